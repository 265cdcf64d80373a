"""Unit tests of the sender's decisions: gates, failure verdicts, backoff, recipients, events."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import (
    AdminAlert,
    AlertCause,
    InstanceState,
    MessageFailed,
    SendPurpose,
    SendText,
    SendTextData,
    partition_key,
)
from evolution_client import (
    EvolutionError,
    EvolutionForbiddenError,
    EvolutionNotFoundError,
    EvolutionOutcomeUnknownError,
    EvolutionRateLimitedError,
    EvolutionRejectedError,
    EvolutionReplyError,
    EvolutionServerError,
    EvolutionUnauthorizedError,
    EvolutionUnreachableError,
    NumberNotOnWhatsAppError,
)
from messaging import backoff_delay_s
from sender.gates import InstanceAccess, RecipientFacts, RefusalReason, check_gates
from sender.outcomes import alert_key, message_failed, message_sent, send_alert
from sender.recipients import digit_variants, recipient_digits
from sender.retries import FailureVerdict, judge_failure
from sender.sending import failure_code

ACCESS = InstanceAccess(name="loja", token="secret-token")


def facts(**overrides: object) -> RecipientFacts:
    values: dict[str, object] = {
        "instance": ACCESS,
        "instance_state": InstanceState.CONNECTED,
        "sending_stopped": False,
        "opted_out": False,
        "blacklisted": False,
    }
    values.update(overrides)
    return RecipientFacts(**values)  # type: ignore[arg-type]


def command(purpose: SendPurpose = SendPurpose.REPLY, **data: object) -> SendText:
    fields: dict[str, object] = {
        "send_id": uuid.uuid4(),
        "instance_id": uuid.uuid4(),
        "instance_name": "loja",
        "conversation_id": uuid.uuid4(),
        "contact_id": uuid.uuid4(),
        "to": "5511999990001",
        "text": "oi",
        "purpose": purpose,
    }
    fields.update(data)
    return SendText(tenant_id=uuid.uuid4(), correlation_id=uuid.uuid4(), data=SendTextData(**fields))  # type: ignore[arg-type]


# --- gates -------------------------------------------------------------------------


def test_a_send_to_a_consenting_contact_passes() -> None:
    assert check_gates(SendPurpose.REPLY, facts()) is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"instance": None, "instance_state": None}, RefusalReason.INSTANCE_NOT_FOUND),
        ({"instance_state": InstanceState.REMOVED}, RefusalReason.INSTANCE_NOT_FOUND),
        ({"sending_stopped": True}, RefusalReason.INSTANCE_SENDING_STOPPED),
        ({"opted_out": True}, RefusalReason.OPTED_OUT),
        ({"blacklisted": True}, RefusalReason.BLACKLISTED),
        (
            {"opted_out": True, "blacklisted": True, "sending_stopped": True},
            RefusalReason.INSTANCE_SENDING_STOPPED,
        ),
    ],
)
@pytest.mark.parametrize("purpose", [SendPurpose.REPLY, SendPurpose.OUTREACH, SendPurpose.WARMUP])
def test_gates_refuse(overrides: dict[str, object], reason: RefusalReason, purpose: SendPurpose) -> None:
    refusal = check_gates(purpose, facts(**overrides))
    assert refusal is not None
    assert refusal.reason is reason


@pytest.mark.parametrize(
    "overrides", [{"opted_out": True}, {"blacklisted": True}, {"opted_out": True, "blacklisted": True}]
)
def test_only_the_opt_out_confirmation_passes_the_contact_gates(overrides: dict[str, object]) -> None:
    assert check_gates(SendPurpose.OPT_OUT_CONFIRMATION, facts(**overrides)) is None
    for purpose in SendPurpose:
        if purpose is not SendPurpose.OPT_OUT_CONFIRMATION:
            assert check_gates(purpose, facts(**overrides)) is not None, purpose


@pytest.mark.parametrize(
    "overrides",
    [
        {"sending_stopped": True},
        {"instance": None, "instance_state": None},
        {"instance_state": InstanceState.REMOVED},
    ],
)
def test_the_opt_out_confirmation_still_meets_the_instance_gates(overrides: dict[str, object]) -> None:
    assert check_gates(SendPurpose.OPT_OUT_CONFIRMATION, facts(**overrides)) is not None


def test_instance_access_never_shows_its_token() -> None:
    assert "secret-token" not in repr(ACCESS)
    assert "secret-token" not in repr(facts())


# --- failure verdicts ----------------------------------------------------------------


def _error(kind: type[EvolutionError], status: int | None) -> EvolutionError:
    return kind(status, "boom")


@pytest.mark.parametrize(
    ("error", "verdict_first", "verdict_last"),
    [
        (_error(EvolutionServerError, 500), FailureVerdict.RETRY, FailureVerdict.EXHAUSTED),
        (_error(EvolutionServerError, 503), FailureVerdict.RETRY, FailureVerdict.EXHAUSTED),
        (_error(EvolutionRateLimitedError, 429), FailureVerdict.RETRY, FailureVerdict.EXHAUSTED),
        (_error(EvolutionUnreachableError, None), FailureVerdict.RETRY, FailureVerdict.EXHAUSTED),
        (_error(NumberNotOnWhatsAppError, 400), FailureVerdict.REJECTED, FailureVerdict.REJECTED),
        (_error(EvolutionRejectedError, 400), FailureVerdict.REJECTED, FailureVerdict.REJECTED),
        (_error(EvolutionUnauthorizedError, 401), FailureVerdict.REJECTED, FailureVerdict.REJECTED),
        (_error(EvolutionForbiddenError, 403), FailureVerdict.REJECTED, FailureVerdict.REJECTED),
        (_error(EvolutionNotFoundError, 404), FailureVerdict.REJECTED, FailureVerdict.REJECTED),
        (_error(EvolutionReplyError, 200), FailureVerdict.REJECTED, FailureVerdict.REJECTED),
        (
            _error(EvolutionOutcomeUnknownError, None),
            FailureVerdict.OUTCOME_UNKNOWN,
            FailureVerdict.OUTCOME_UNKNOWN,
        ),
        (
            _error(EvolutionOutcomeUnknownError, 504),
            FailureVerdict.OUTCOME_UNKNOWN,
            FailureVerdict.OUTCOME_UNKNOWN,
        ),
    ],
)
def test_failure_verdicts(
    error: EvolutionError, verdict_first: FailureVerdict, verdict_last: FailureVerdict
) -> None:
    assert judge_failure(error, attempt=1, max_attempts=3) is verdict_first
    assert judge_failure(error, attempt=2, max_attempts=3) is verdict_first
    assert judge_failure(error, attempt=3, max_attempts=3) is verdict_last


def test_a_single_attempt_budget_is_exhausted_at_once() -> None:
    assert (
        judge_failure(_error(EvolutionServerError, 500), attempt=1, max_attempts=1)
        is FailureVerdict.EXHAUSTED
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_error(NumberNotOnWhatsAppError, 400), "number_not_on_whatsapp"),
        (_error(EvolutionUnauthorizedError, 401), "unauthorized"),
        (_error(EvolutionForbiddenError, 403), "forbidden"),
        (_error(EvolutionNotFoundError, 404), "instance_not_found_at_evolution"),
        (_error(EvolutionReplyError, 200), "error_reply"),
        (_error(EvolutionRejectedError, 422), "http_422"),
        (_error(EvolutionServerError, 500), "http_500"),
        (_error(EvolutionUnreachableError, None), "unreachable"),
    ],
)
def test_failure_codes(error: EvolutionError, code: str) -> None:
    assert failure_code(error) == code


# --- backoff -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 20.0), (40, 20.0)]
)
def test_backoff_is_exponential_with_jitter_between_half_and_the_ceiling(retry: int, ceiling: float) -> None:
    low = backoff_delay_s(retry, base_s=1.0, max_s=20.0, rng=lambda: 0.0)
    high = backoff_delay_s(retry, base_s=1.0, max_s=20.0, rng=lambda: 1.0)
    assert low == pytest.approx(ceiling / 2)
    assert high == pytest.approx(ceiling)


@given(
    retry=st.integers(min_value=1, max_value=60),
    base=st.floats(min_value=0, max_value=10),
    cap=st.floats(min_value=0, max_value=60),
    draw=st.floats(min_value=0, max_value=1),
)
def test_backoff_never_leaves_its_bounds(retry: int, base: float, cap: float, draw: float) -> None:
    delay = backoff_delay_s(retry, base_s=base, max_s=cap, rng=lambda: draw)
    ceiling = min(cap, base * 2 ** (retry - 1))
    assert ceiling / 2 - 1e-9 <= delay <= ceiling + 1e-9
    assert delay <= cap + 1e-9


def test_backoff_honours_retry_after_up_to_the_cap() -> None:
    assert backoff_delay_s(1, base_s=0.1, max_s=10, retry_after_s=3, rng=lambda: 0.5) == 3
    assert backoff_delay_s(1, base_s=0.1, max_s=10, retry_after_s=300, rng=lambda: 0.5) == 10
    assert backoff_delay_s(3, base_s=4, max_s=10, retry_after_s=1, rng=lambda: 1.0) == 10


def test_backoff_jitter_spreads_delays() -> None:
    delays = {backoff_delay_s(3, base_s=1.0, max_s=20.0) for _ in range(50)}
    assert len(delays) > 1
    assert all(2.0 <= delay <= 4.0 for delay in delays)


# --- recipients ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "digits"),
    [
        ("5511999990001", "5511999990001"),
        ("+55 (11) 99999-0001", "5511999990001"),
        ("5511999990001@s.whatsapp.net", "5511999990001"),
        ("123456789012345@lid", "123456789012345"),
        ("", ""),
    ],
)
def test_recipient_digits(to: str, digits: str) -> None:
    assert recipient_digits(to) == digits


@pytest.mark.parametrize(
    ("digits", "variants"),
    [
        ("5511999990001", ("5511999990001", "551199990001")),
        ("551199990001", ("551199990001", "5511999990001")),
        # A Brazilian landline (starts 2-5) never gets a ninth digit.
        ("551133334444", ("551133334444",)),
        ("14155550100", ("14155550100",)),
        ("", ()),
    ],
)
def test_digit_variants_cover_the_brazilian_ninth_digit(digits: str, variants: tuple[str, ...]) -> None:
    assert digit_variants(digits) == variants


# --- outcome events -------------------------------------------------------------------


def test_outcome_events_are_derived_from_the_send_and_carry_the_chain() -> None:
    cmd = command()
    failed = message_failed(cmd, code="exhausted", error="x", attempts=3, retryable=True)
    again = message_failed(cmd, code="exhausted", error="x", attempts=3, retryable=True)
    sent = message_sent(cmd, provider_message_id="ABC", attempts=1, sent_at=cmd.occurred_at)
    assert failed.event_id == again.event_id, "a re-created outcome has the same id"
    assert len({failed.event_id, sent.event_id, cmd.event_id}) == 3
    for event in (failed, sent):
        assert event.correlation_id == cmd.correlation_id
        assert event.causation_id == cmd.event_id
        assert event.tenant_id == cmd.tenant_id
        assert partition_key(event) == partition_key(cmd)
    assert isinstance(failed, MessageFailed)
    assert failed.data.purpose is SendPurpose.REPLY
    assert failed.data.failure_code == "exhausted"


def test_send_alerts_aggregate_by_instance() -> None:
    cmd = command()
    alert = send_alert(
        cmd, cause=AlertCause.SEND_EXHAUSTED, attempts=3, error="exhausted: 500", status_code=500
    )
    assert isinstance(alert, AdminAlert)
    assert (
        alert.data.alert_key
        == f"send_exhausted:{cmd.data.instance_id}"
        == alert_key(AlertCause.SEND_EXHAUSTED, cmd)
    )
    assert alert.data.send_id == cmd.data.send_id
    assert alert.data.title == "Envio falhou após 3 tentativas"
    assert alert.data.context["status_code"] == "500"
    other = send_alert(command(), cause=AlertCause.SEND_EXHAUSTED, attempts=3, error="e")
    assert other is not None
    assert other.event_id != alert.event_id


def test_a_failed_alert_delivery_raises_no_alert() -> None:
    cmd = command(SendPurpose.ADMIN_ALERT)
    assert send_alert(cmd, cause=AlertCause.SEND_EXHAUSTED, attempts=3, error="e") is None
