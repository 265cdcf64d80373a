"""JIDs: their digits and the kind of chat they name."""

from __future__ import annotations

import pytest

from contracts import ChatKind
from guard.addresses import address_digits, chat_kind_of, is_phone_jid, jid_digits, phone_digits


@pytest.mark.parametrize(
    ("jid", "digits"),
    [
        ("5511999990001@s.whatsapp.net", "5511999990001"),
        ("5511999990001:12@s.whatsapp.net", "5511999990001"),
        ("123456789012345@lid", "123456789012345"),
        ("120363025246125486@g.us", "120363025246125486"),
        ("status@broadcast", None),
        ("", None),
        (None, None),
    ],
)
def test_jid_digits(jid: str | None, digits: str | None) -> None:
    assert jid_digits(jid) == digits


def test_only_phone_jids_carry_a_phone_number() -> None:
    assert is_phone_jid("5511999990001@s.whatsapp.net")
    assert is_phone_jid("5511999990001@c.us")
    assert not is_phone_jid("123456789012345@lid")
    assert not is_phone_jid("120363025246125486@g.us")
    assert not is_phone_jid(None)
    assert phone_digits(
        ["5511999990001@s.whatsapp.net", "123@lid", "5511999990001:3@s.whatsapp.net", None]
    ) == ["5511999990001"]
    assert address_digits(["5511999990001@s.whatsapp.net", "123@lid", "123@lid"]) == ["5511999990001", "123"]


@pytest.mark.parametrize(
    ("declared", "jid", "kind"),
    [
        (ChatKind.DIRECT, "5511999990001@s.whatsapp.net", ChatKind.DIRECT),
        (ChatKind.DIRECT, "123@lid", ChatKind.DIRECT),
        (ChatKind.DIRECT, "120363025246125486@g.us", ChatKind.GROUP),
        (ChatKind.DIRECT, "status@broadcast", ChatKind.BROADCAST),
        (ChatKind.DIRECT, "120363025246125486@newsletter", ChatKind.NEWSLETTER),
        (ChatKind.GROUP, "120363025246125486@g.us", ChatKind.GROUP),
        (ChatKind.BROADCAST, "status@broadcast", ChatKind.BROADCAST),
    ],
)
def test_the_chat_kind_trusts_the_jid_when_it_is_not_a_direct_chat(
    declared: ChatKind, jid: str, kind: ChatKind
) -> None:
    assert chat_kind_of(declared, jid) is kind
