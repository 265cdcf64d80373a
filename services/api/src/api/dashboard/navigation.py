"""The dashboard's main navigation: one entry per page that works.

A later page adds its entry here when its API and page exist; nothing is listed
before it works.
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
    NavItem("campaigns", "/ui/campaigns", "nav.campaigns"),
    NavItem("warmup", "/ui/warmup", "nav.warmup"),
    NavItem("metrics", "/ui/metrics", "nav.metrics"),
    NavItem("alerts", "/ui/alerts", "nav.alerts"),
)
