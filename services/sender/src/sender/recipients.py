"""Who a send goes to, in the forms the database and Evolution spell it."""

from __future__ import annotations

from contracts.phones import digit_variants, phone_digits

__all__ = ["digit_variants", "recipient_digits"]


def recipient_digits(to: str) -> str:
    """The digits of a recipient (`5511…`, `+55 (11) …`, `5511…@s.whatsapp.net`, `123…@lid`)."""
    return phone_digits(to)
