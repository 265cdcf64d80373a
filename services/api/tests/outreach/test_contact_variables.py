"""A contact's variables must fit PostgreSQL's jsonb: no NUL character, no lone surrogate."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.outreach.schemas import ContactIn


@pytest.mark.parametrize(
    "variables",
    [
        {"name": "Ana\x00"},
        {"na\x00me": "Ana"},
        {"deep": [{"list": ["ok", "a\x00b"]}]},
        {"escaped": "\\\x00"},
        {"big": 2**70, "name": "\x00"},
    ],
)
def test_a_nul_character_anywhere_is_refused(variables: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="NUL characters"):
        ContactIn(phone="5511999990001", variables=variables)  # type: ignore[arg-type]


@pytest.mark.parametrize("variables", [{"name": "\ud800"}, {"\udfff": "x"}, {"big": 2**70, "s": "\ud83d"}])
def test_a_lone_surrogate_is_refused(variables: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="valid Unicode text"):
        ContactIn(phone="5511999990001", variables=variables)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "variables",
    [
        {"name": "João 😀", "cidade": "São Paulo"},
        # The text backslash-u0000 is six ordinary characters, not a NUL.
        {"literal": "\\u0000"},
        {"literal": "\\\\u0000"},
        {"big": 2**70},
        {"nested": {"a": [1, 2.5, None, True]}},
    ],
)
def test_storable_variables_are_accepted(variables: dict[str, object]) -> None:
    contact = ContactIn(phone="5511999990001", variables=variables)  # type: ignore[arg-type]
    assert contact.variables == variables
