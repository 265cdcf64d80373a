"""Who a send goes to, in the forms the database and Evolution spell it."""

from __future__ import annotations

import re

_NON_DIGITS = re.compile(r"\D")
_BRAZIL = "55"
# 55 + two-digit area code + nine-digit mobile number starting with 9.
_BR_MOBILE_WITH_NINTH_DIGIT = 13
# 55 + area code + the same mobile number written without its ninth digit (old JIDs).
_BR_MOBILE_WITHOUT_NINTH_DIGIT = 12


def recipient_digits(to: str) -> str:
    """The digits of a recipient (`5511…`, `+55 (11) …`, `5511…@s.whatsapp.net`, `123…@lid`)."""
    local = to.split("@", 1)[0]
    return _NON_DIGITS.sub("", local)


def digit_variants(digits: str) -> tuple[str, ...]:
    """`digits` plus the other spelling of a Brazilian mobile number, if it has one.

    WhatsApp JIDs of older Brazilian mobiles lack the ninth digit that the phone
    number has (and Evolution normalises it when sending), so an echo, an opt-out
    or a blacklist entry may carry either form.
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
