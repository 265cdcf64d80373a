"""How a phone number is spelled across Mirage: digits only, in either Brazilian mobile form.

Every service that matches a person by number (opt-outs, the blacklist, erased contacts,
campaign targets) spells it the same way, so the spelling lives next to the contracts.
"""

from __future__ import annotations

import hashlib
import re
import uuid

_NON_DIGITS = re.compile(r"\D")
_BRAZIL = "55"
# 55 + two-digit area code + nine-digit mobile number starting with 9.
_BR_MOBILE_WITH_NINTH_DIGIT = 13
# 55 + area code + the same mobile number written without its ninth digit (old JIDs).
_BR_MOBILE_WITHOUT_NINTH_DIGIT = 12


def phone_digits(text: str) -> str:
    """The digits of a number or JID (`5511…`, `+55 (11) …`, `5511…@s.whatsapp.net`)."""
    local = text.split("@", 1)[0].split(":", 1)[0]
    return _NON_DIGITS.sub("", local)


def digit_variants(digits: str) -> tuple[str, ...]:
    """`digits` plus the other spelling of a Brazilian mobile number, if it has one.

    WhatsApp JIDs of older Brazilian mobiles lack the ninth digit that the phone number has
    (and Evolution normalises it when sending), so an echo, an opt-out or a blacklist entry
    may carry either form.
    """
    if not digits:
        return ()
    variants = [digits]
    if digits.startswith(_BRAZIL):
        if len(digits) == _BR_MOBILE_WITH_NINTH_DIGIT and digits[4] == "9":
            variants.append(digits[:4] + digits[5:])
        elif len(digits) == _BR_MOBILE_WITHOUT_NINTH_DIGIT and digits[4] in "6789":
            variants.append(digits[:4] + "9" + digits[4:])
    return tuple(variants)


def canonical_digits(digits: str) -> str:
    """One spelling per person: a Brazilian mobile always with its ninth digit."""
    if digits.startswith(_BRAZIL) and len(digits) == _BR_MOBILE_WITHOUT_NINTH_DIGIT and digits[4] in "6789":
        return digits[:4] + "9" + digits[4:]
    return digits


def suppression_hash(tenant_id: uuid.UUID, digits: str) -> str:
    """The hash an erased contact is remembered by (`suppressions.phone_hash`).

    SHA-256 over the tenant and the canonical digits: it proves "never contact this number
    again" without keeping the number. It is pseudonymous, not anonymous: phone numbers are
    few enough to be guessed back (docs/outreach.md).
    """
    return hashlib.sha256(f"{tenant_id}:{canonical_digits(digits)}".encode()).hexdigest()
