"""Who wrote a message, as phone digits the own-number registry can be searched with."""

from __future__ import annotations

from collections.abc import Iterable

from contracts.phones import digit_variants

_PHONE_SUFFIX = "@s.whatsapp.net"


def sender_numbers(jids: Iterable[str | None]) -> list[str]:
    """The phone digits (and their other Brazilian spelling) of every phone JID given; `@lid`s are skipped."""
    numbers: list[str] = []
    for jid in jids:
        if not jid or ("@" in jid and not jid.endswith(_PHONE_SUFFIX)):
            continue
        digits = "".join(ch for ch in jid.split("@", 1)[0].split(":", 1)[0] if ch.isdigit())
        for variant in digit_variants(digits) if digits else []:
            if variant not in numbers:
                numbers.append(variant)
    return numbers
