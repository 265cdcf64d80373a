"""Annotated input types every route shares: text PostgreSQL can store, phones, instants.

PostgreSQL text cannot hold NUL, and asyncpg cannot encode lone surrogates, so such
input is a 422 here instead of a 500 in the database driver.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

_DIGITS = re.compile(r"\D")
# 6 to 20 digits, optionally with a leading `+` and spaces, dots, dashes or brackets between them.
PHONE_PATTERN = r"^\+?(?:[ ().-]*[0-9]){6,20}[ ().-]*$"
_PHONE = re.compile(PHONE_PATTERN)


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("must be valid Unicode text") from error
    return value


def _phone_digits(value: object) -> str:
    if not isinstance(value, str) or not _PHONE.fullmatch(value):
        raise ValueError("must be a phone number: 6 to 20 digits, with an optional + and separators")
    return _DIGITS.sub("", value)


def _as_utc(value: datetime) -> datetime:
    # A naive instant is read as UTC; a far-off offset must still fit PostgreSQL's range.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return aware.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("is out of range") from error


StorableText = Annotated[str, AfterValidator(_storable)]
"""Any text PostgreSQL can store."""

PhoneDigits = Annotated[
    str,
    BeforeValidator(_phone_digits),
    Field(json_schema_extra={"pattern": PHONE_PATTERN}, examples=["5511999990001", "+55 (11) 99999-0001"]),
]
"""A phone number, kept as its digits only (`+55 (11) 99999-0001` → `5511999990001`)."""

UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""An instant, normalised to UTC (naive values are taken as UTC)."""

Name = Annotated[StorableText, Field(min_length=1, max_length=100)]
"""A short display name."""
