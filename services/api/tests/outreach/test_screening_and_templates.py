"""Campaign rows and templates without I/O: the per-row report and the sandboxed rendering."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from api.outreach.screening import ContactRow, RejectReason, campaign_digits, screen
from api.outreach.service import OutreachPayloads, random_uuid_strings
from api.outreach.templates import MessageTemplate, RowRenderError, TemplateInvalidError
from contracts import RequestOutreach, RequestOutreachData, Topic, parse_event


def rows(*phones: object) -> list[ContactRow]:
    return [ContactRow(index, phone, {"name": f"p{index}"}) for index, phone in enumerate(phones)]


def test_phones_in_any_spelling_become_digits_and_the_rest_are_invalid() -> None:
    assert campaign_digits("+55 (11) 99999-0001") == "5511999990001"
    assert campaign_digits("5511999990001") == "5511999990001"
    for bad in ("", "abc", "123", "+55 11 9999 0001 2345 678", 5511999990001, None, "55119999٠0001"):
        assert campaign_digits(bad) is None, bad


def test_each_row_gets_one_verdict_in_order_of_precedence() -> None:
    accepted, rejected = screen(
        rows(
            "5511999990001",  # 0 ok
            "not a phone",  # 1 invalid
            "+55 11 99999-0001",  # 2 duplicate of 0
            "551199990001",  # 3 duplicate of 0 too: the same mobile without its ninth digit
            "5511999990002",  # 4 opted out (by its old spelling)
            "5511999990003",  # 5 blacklisted
            "5511999990004",  # 6 erased: reported as opted out
            "5511999990005",  # 7 ok
        ),
        opted_out={"551199990002"},
        blacklisted={"5511999990003"},
        suppressed={"5511999990004"},
    )
    assert [row.index for row in accepted] == [0, 7]
    assert [(r.index, r.reason) for r in rejected] == [
        (1, RejectReason.INVALID_PHONE),
        (2, RejectReason.DUPLICATE),
        (3, RejectReason.DUPLICATE),
        (4, RejectReason.OPTED_OUT),
        (5, RejectReason.BLACKLISTED),
        (6, RejectReason.OPTED_OUT),
    ]


def test_a_template_renders_variables_and_a_missing_one_fails_that_row() -> None:
    template = MessageTemplate("Oi {{name}}, tudo bem?")
    assert template.render({"name": "Ana"}) == "Oi Ana, tudo bem?"
    with pytest.raises(RowRenderError, match="name"):
        template.render({})


def test_the_sandbox_refuses_to_reach_python_internals() -> None:
    template = MessageTemplate("{{ name.__class__.__mro__ }}")
    with pytest.raises(RowRenderError):
        template.render({"name": "Ana"})


def test_a_template_that_does_not_compile_is_refused() -> None:
    with pytest.raises(TemplateInvalidError):
        MessageTemplate("Oi {{name")


def test_an_empty_or_huge_rendering_fails_the_row() -> None:
    with pytest.raises(RowRenderError, match="empty"):
        MessageTemplate("{{name}}").render({"name": "  "})
    with pytest.raises(RowRenderError, match="characters"):
        MessageTemplate("{{name}}").render({"name": "x" * 5000})


def test_the_bulk_encoded_request_is_the_contract_s_event() -> None:
    """Campaign creation encodes `outreach.requested` without a model per row; the bytes must
    parse to exactly the event the contract would have built."""
    ids = [uuid.uuid4() for _ in range(5)]
    moment = datetime(2026, 12, 2, 12, 30, 15, 123456, tzinfo=UTC)
    expected = RequestOutreach(
        event_id=ids[0],
        occurred_at=moment,
        tenant_id=ids[1],
        correlation_id=ids[2],
        data=RequestOutreachData(
            campaign_id=ids[2],
            target_id=ids[3],
            instance_id=ids[4],
            instance_name="demo-1",
            to="5511999990001",
            text='Oi "Ana" — ação\nlinha 2',
        ),
    )
    payloads = OutreachPayloads(occurred_at=moment, tenant_id=ids[1], campaign_id=ids[2])
    raw = payloads.encode(
        event_id=str(ids[0]),
        target_id=str(ids[3]),
        instance_id=ids[4],
        instance_name="demo-1",
        to="5511999990001",
        text='Oi "Ana" — ação\nlinha 2',
    )
    assert parse_event(raw, Topic.OUTREACH_REQUESTED) == expected
    other = payloads.encode(
        event_id=str(ids[0]),
        target_id=str(ids[3]),
        instance_id=ids[1],
        instance_name='demo "2"',
        to="5511999990002",
        text="",
    )
    parsed = parse_event(other, Topic.OUTREACH_REQUESTED)
    assert isinstance(parsed, RequestOutreach)
    assert parsed.data == expected.data.model_copy(
        update={"instance_id": ids[1], "instance_name": 'demo "2"', "to": "5511999990002", "text": ""}
    )
    assert (
        parse_event(
            payloads.encode(
                event_id=str(ids[0]),
                target_id=str(ids[3]),
                instance_id=ids[4],
                instance_name="demo-1",
                to="5511999990001",
                text='Oi "Ana" — ação\nlinha 2',
            ),
            Topic.OUTREACH_REQUESTED,
        )
        == expected
    ), "an instance's encoded part is reused as is"
    assert parse_event(expected.to_json_bytes(), Topic.OUTREACH_REQUESTED) == parse_event(
        raw, Topic.OUTREACH_REQUESTED
    )


def test_random_uuid_strings_are_version_4_uuids_in_their_text_form() -> None:
    made = random_uuid_strings(2000)
    assert len(set(made)) == 2000
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert random_uuid_strings(0) == []


def test_a_substitution_template_renders_exactly_as_jinja_does() -> None:
    source = "Oi {{name}}! Seu pedido {{ pedido }} de {{valor}} chega {{quando}}."
    values = {"name": "Ana", "pedido": 42, "valor": 19.9, "quando": None}
    plain = MessageTemplate(source)
    assert plain._plan is not None, "plain variables take the fast path"
    reference = SandboxedEnvironment(undefined=StrictUndefined).from_string(source).render(values)
    assert plain.render(values) == reference.strip()
    assert MessageTemplate("{{ name | upper }}")._plan is None, "a filter goes through the sandbox"
