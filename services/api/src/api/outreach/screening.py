"""The per-row report of a campaign's contacts: which rows are accepted, and why the others
are not (`invalid_phone`, `duplicate`, `opted_out`, `blacklisted`). Pure: the consent facts
are read by the caller in one query per kind."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from contracts.phones import canonical_digits, digit_variants

# Separators people write numbers with; anything else makes the row an invalid phone.
_SEPARATORS = str.maketrans("", "", " \t().-")
# E.164: at most 15 digits; a country code, an area code and a subscriber number make at least 10.
MIN_DIGITS = 10
MAX_DIGITS = 15


class RejectReason(StrEnum):
    """Why a row is not contacted."""

    INVALID_PHONE = "invalid_phone"
    DUPLICATE = "duplicate"
    OPTED_OUT = "opted_out"
    BLACKLISTED = "blacklisted"


@dataclass(frozen=True)
class ContactRow:
    """One row of `contacts`, as given, with its phone read once as digits (None: invalid)."""

    index: int
    phone: Any
    variables: dict[str, Any]
    digits: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digits", campaign_digits(self.phone))


@dataclass(frozen=True)
class AcceptedRow:
    """A row that will be contacted, with its number as digits."""

    index: int
    digits: str
    variables: dict[str, Any]


@dataclass(frozen=True)
class RejectedRow:
    """A row that will not be contacted."""

    index: int
    phone: str
    reason: RejectReason


def _storable(text: str) -> str:
    # What the report shows (and stores) of an invalid phone: text PostgreSQL can hold.
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def campaign_digits(phone: Any) -> str | None:
    """The digits of a campaign phone (`+55 (11) 99999-0001`), or None when it is not one."""
    if not isinstance(phone, str) or len(phone) > 64:
        return None
    text = phone.strip().translate(_SEPARATORS)
    text = text.removeprefix("+")
    if not text.isascii() or not text.isdigit() or not MIN_DIGITS <= len(text) <= MAX_DIGITS:
        return None
    return text


def candidate_numbers(rows: Iterable[ContactRow]) -> list[str]:
    """Every spelling of every valid phone, for the consent lookups."""
    found: set[str] = set()
    for row in rows:
        if row.digits is not None:
            found.update(digit_variants(row.digits))
    return sorted(found)


def screen(
    rows: Sequence[ContactRow],
    *,
    opted_out: set[str],
    blacklisted: set[str],
    suppressed: set[str],
) -> tuple[list[AcceptedRow], list[RejectedRow]]:
    """Accept or reject every row. `opted_out` and `blacklisted` hold digit spellings;
    `suppressed` the canonical digits of erased contacts (reported as `opted_out`)."""
    accepted: list[AcceptedRow] = []
    rejected: list[RejectedRow] = []
    seen: set[str] = set()
    for row in rows:
        digits = row.digits
        if digits is None:
            shown = _storable(row.phone if isinstance(row.phone, str) else json.dumps(row.phone))
            rejected.append(RejectedRow(row.index, shown[:64], RejectReason.INVALID_PHONE))
            continue
        canonical = canonical_digits(digits)
        if canonical in seen:
            rejected.append(RejectedRow(row.index, digits, RejectReason.DUPLICATE))
            continue
        seen.add(canonical)
        variants = digit_variants(digits)
        if canonical in suppressed or not opted_out.isdisjoint(variants):
            rejected.append(RejectedRow(row.index, digits, RejectReason.OPTED_OUT))
        elif not blacklisted.isdisjoint(variants):
            rejected.append(RejectedRow(row.index, digits, RejectReason.BLACKLISTED))
        else:
            accepted.append(AcceptedRow(row.index, digits, row.variables))
    return accepted, rejected
