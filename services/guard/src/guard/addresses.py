"""What a WhatsApp JID says about the chat it names: its kind and its digits."""

from __future__ import annotations

from collections.abc import Iterable

from contracts import ChatKind
from contracts.phones import phone_digits as _digits_of

PHONE_JID_SUFFIXES = ("@s.whatsapp.net", "@c.us")
GROUP_JID_SUFFIX = "@g.us"
BROADCAST_JID_SUFFIX = "@broadcast"
NEWSLETTER_JID_SUFFIX = "@newsletter"


def jid_digits(jid: str | None) -> str | None:
    """The digits of a JID's user part (`5511…:12@s.whatsapp.net` → `5511…`), or None."""
    return (_digits_of(jid) or None) if jid else None


def is_phone_jid(jid: str | None) -> bool:
    """True for a JID that names a phone number (not a group, `@lid`, broadcast or newsletter)."""
    return bool(jid) and str(jid).lower().endswith(PHONE_JID_SUFFIXES)


def phone_digits(jids: Iterable[str | None]) -> list[str]:
    """The distinct phone numbers among `jids`, in order (only phone JIDs count)."""
    found: list[str] = []
    for jid in jids:
        digits = jid_digits(jid) if is_phone_jid(jid) else None
        if digits and digits not in found:
            found.append(digits)
    return found


def address_digits(jids: Iterable[str | None]) -> list[str]:
    """The distinct digits of every JID in `jids` (phone, `@lid` or group), in order."""
    found: list[str] = []
    for jid in jids:
        digits = jid_digits(jid)
        if digits and digits not in found:
            found.append(digits)
    return found


def chat_kind_of(declared: ChatKind, chat_jid: str) -> ChatKind:
    """The chat's kind: what ingest declared, unless the JID itself says it is not a direct chat."""
    if declared is not ChatKind.DIRECT:
        return declared
    lowered = chat_jid.lower()
    if lowered.endswith(GROUP_JID_SUFFIX):
        return ChatKind.GROUP
    if lowered.endswith(NEWSLETTER_JID_SUFFIX):
        return ChatKind.NEWSLETTER
    if lowered.endswith(BROADCAST_JID_SUFFIX):
        return ChatKind.BROADCAST
    return ChatKind.DIRECT
