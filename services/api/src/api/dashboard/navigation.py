"""The dashboard's main navigation: one entry per page that works.

Later pages (outreach campaigns, warm-up pairs, statistics) add their entry here
when their API and page exist; nothing is listed before it works.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    """A page in the main navigation."""

    key: str
    href: str
    label: str  # catalog key


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("instances", "/", "nav.instances"),
    NavItem("conversations", "/ui/conversations", "nav.conversations"),
    NavItem("personas", "/ui/personas", "nav.personas"),
    NavItem("alerts", "/ui/alerts", "nav.alerts"),
)
