"""The target state machine without I/O: what the worker does with a target, and a property
that every target ends in exactly one terminal state or waits with a due time."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.target_rules import (
    TERMINAL_STATES,
    CampaignStatus,
    NumberOption,
    NumberWarmup,
    OutcomeKind,
    Reason,
    StepKind,
    TargetFacts,
    TargetState,
    WarmupPairLoad,
    pacing_gap_s,
    plan,
    settle,
)
from warmup_rules.windows import WeeklySchedule

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # a Wednesday, 12:00 in São Paulo
RETRY = timedelta(minutes=1)
A = NumberOption(uuid.uuid4(), "a", "5511900000001", connected=True, free_at=None)
B = NumberOption(uuid.uuid4(), "b", "5511900000002", connected=True, free_at=None)


def facts(**changes: object) -> TargetFacts:
    base: dict[str, object] = {
        "state": None,
        "campaign_status": CampaignStatus.RUNNING,
        "not_before": None,
        "consent": None,
        "schedule": None,
        "assigned": A.instance_id,
        "numbers": (A, B),
    }
    base.update(changes)
    return TargetFacts(**base)  # type: ignore[arg-type]


def test_a_due_target_goes_out_on_its_sticky_number() -> None:
    step = plan(facts(), NOW, no_number_retry=RETRY)
    assert step.kind is StepKind.SEND
    assert step.number == A


def test_a_busy_sticky_number_keeps_the_contact_waiting_for_it() -> None:
    busy = NumberOption(A.instance_id, "a", A.number, connected=True, free_at=NOW + timedelta(seconds=5))
    step = plan(facts(numbers=(busy, B)), NOW, no_number_retry=RETRY)
    assert step.kind is StepKind.WAIT
    assert step.reason is Reason.NUMBER_BUSY
    assert step.number == busy


def test_a_disconnected_sticky_number_rotates_to_the_free_connected_one() -> None:
    gone = NumberOption(A.instance_id, "a", A.number, connected=False, free_at=None)
    step = plan(facts(numbers=(gone, B)), NOW, no_number_retry=RETRY)
    assert step.kind is StepKind.SEND
    assert step.number == B


def test_no_connected_number_reschedules_with_a_due_time() -> None:
    gone = NumberOption(A.instance_id, "a", A.number, connected=False, free_at=None)
    step = plan(facts(numbers=(gone,)), NOW, no_number_retry=RETRY)
    assert (step.kind, step.state, step.reason, step.due) == (
        StepKind.WAIT,
        TargetState.RESCHEDULED,
        Reason.NO_CONNECTED_NUMBER,
        NOW + RETRY,
    )


def test_consent_and_cancellation_skip_and_a_pause_waits() -> None:
    assert plan(facts(consent=Reason.OPTED_OUT), NOW, no_number_retry=RETRY).reason is Reason.OPTED_OUT
    cancelled = plan(facts(campaign_status=CampaignStatus.CANCELLED), NOW, no_number_retry=RETRY)
    assert (cancelled.kind, cancelled.state) == (StepKind.SKIP, TargetState.SKIPPED)
    paused = plan(facts(campaign_status=CampaignStatus.PAUSED), NOW, no_number_retry=RETRY)
    assert (paused.kind, paused.state) == (StepKind.WAIT, TargetState.QUEUED)


def test_outside_the_window_the_target_waits_for_the_next_opening() -> None:
    mornings = WeeklySchedule.of([{"days": ["thu"], "start": "08:00", "end": "10:00"}], "America/Sao_Paulo")
    step = plan(facts(schedule=mornings), NOW, no_number_retry=RETRY)
    assert (step.kind, step.state, step.reason) == (
        StepKind.WAIT,
        TargetState.RESCHEDULED,
        Reason.OUTSIDE_WINDOW,
    )
    assert step.due == datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


def test_a_target_already_moving_or_finished_is_left_alone() -> None:
    for state in (TargetState.SENDING, *TERMINAL_STATES):
        assert plan(facts(state=state), NOW, no_number_retry=RETRY).kind is StepKind.IGNORE


def test_outcomes_settle_a_sending_target_once() -> None:
    assert settle(TargetState.SENDING, None, OutcomeKind.SENT, failure_code=None, ambiguous=False).state is (
        TargetState.SENT
    )
    refused = settle(TargetState.SENDING, None, OutcomeKind.FAILED, failure_code="opted_out", ambiguous=False)
    assert (refused.state, refused.reason) == (TargetState.SKIPPED, Reason.OPTED_OUT)
    erased = settle(TargetState.SENDING, None, OutcomeKind.FAILED, failure_code="suppressed", ambiguous=False)
    assert erased.reason is Reason.SUPPRESSED
    failed = settle(TargetState.SENDING, None, OutcomeKind.FAILED, failure_code="exhausted", ambiguous=False)
    assert (failed.state, failed.reason) == (TargetState.FAILED, "exhausted")
    assert settle(TargetState.SENT, None, OutcomeKind.FAILED, failure_code="x", ambiguous=False).state is None
    late = settle(TargetState.FAILED, Reason.AMBIGUOUS, OutcomeKind.SENT, failure_code=None, ambiguous=False)
    assert late.state is TargetState.SENT


def test_pacing_never_repeats_a_fixed_interval() -> None:
    rng = random.Random(7)
    gaps = {round(pacing_gap_s(30, 30, rng), 6) for _ in range(50)}
    assert len(gaps) == 50
    assert all(25.5 <= gap <= 34.5 for gap in gaps)


# -- the property -----------------------------------------------------------------------------

numbers_strategy = st.lists(
    st.builds(
        NumberOption,
        instance_id=st.sampled_from([A.instance_id, B.instance_id, uuid.UUID(int=3)]),
        name=st.sampled_from(["a", "b", "c"]),
        number=st.just("5511900000009"),
        connected=st.booleans(),
        free_at=st.one_of(st.none(), st.integers(-60, 60).map(lambda s: NOW + timedelta(seconds=s))),
    ),
    max_size=3,
).map(tuple)

request = st.fixed_dictionaries(
    {
        "campaign_status": st.sampled_from(list(CampaignStatus)),
        "consent": st.one_of(st.none(), st.sampled_from([Reason.OPTED_OUT, Reason.BLACKLISTED])),
        "numbers": numbers_strategy,
        "quota_admits": st.booleans(),
        "advance_s": st.integers(0, 3 * 86_400),
    }
)
outcome = st.tuples(
    st.sampled_from(list(OutcomeKind)), st.sampled_from([None, "opted_out", "exhausted"]), st.booleans()
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.one_of(request, outcome), max_size=25))
def test_every_target_ends_in_one_terminal_state_or_waits_with_a_due_time(steps: list[object]) -> None:
    """Whatever arrives in whatever order, a target is in exactly one state; a waiting target
    always has a due time; a terminal one never moves again (except ambiguous → sent)."""
    state: TargetState | None = None
    reason: str | None = None
    due: datetime | None = None
    now = NOW
    sends = 0
    for item in steps:
        if isinstance(item, dict):
            now += timedelta(seconds=item["advance_s"])
            step = plan(
                facts(
                    state=state,
                    campaign_status=item["campaign_status"],
                    consent=item["consent"],
                    numbers=item["numbers"],
                ),
                now,
                no_number_retry=RETRY,
            )
            before = state
            if step.kind is StepKind.WAIT:
                state, reason, due = step.state, step.reason, step.due
                assert due is not None
            elif step.kind is StepKind.SKIP:
                state, reason, due = step.state, step.reason, None
            elif step.kind is StepKind.SEND:
                if item["quota_admits"]:
                    state, reason, due = TargetState.SENDING, None, None
                    sends += 1
                else:
                    state, reason, due = (
                        TargetState.RESCHEDULED,
                        Reason.QUOTA_NUMBER,
                        now + timedelta(hours=1),
                    )
            if before in TERMINAL_STATES or before is TargetState.SENDING:
                assert state == before, "a moving or finished target is never planned again"
        elif state is not None:
            assert isinstance(item, tuple)
            kind: OutcomeKind = item[0]
            code: str | None = item[1]
            settled = settle(state, reason, kind, failure_code=code, ambiguous=bool(item[2]))
            if settled.state is not None:
                assert state is TargetState.SENDING or (
                    state is TargetState.FAILED and reason == Reason.AMBIGUOUS
                )
                state, reason, due = settled.state, settled.reason, None
        if state in TERMINAL_STATES or state is TargetState.SENDING:
            assert due is None
        elif state is not None:
            assert due is not None, "a waiting target always has a due time"
        assert sends <= 1, "a target is handed to the sender at most once"


def test_a_number_in_no_warm_up_pair_keeps_the_tenants_per_number_quota() -> None:
    assert A.campaign_daily_cap(300, NOW) == 300


def test_warm_up_comes_before_campaigns_on_a_numbers_budget() -> None:
    normal = WarmupPairLoad(profile="normal", rounds_per_day=None, min_turns=2, max_turns=6)
    established = NumberWarmup(declared_age_days=None, declared_at=None, pairs=(normal,))
    # Ramp 200 a day, 8 rounds of 2–6 turns keep 23 back.
    assert (
        NumberOption(A.instance_id, "a", A.number, True, None, established).campaign_daily_cap(300, NOW)
        == 177
    )
    # A 4-day-old number ramps at 25 a day; a day later (declared yesterday) it is 5 days old.
    young = NumberWarmup(declared_age_days=4, declared_at=NOW - timedelta(days=1), pairs=(normal,))
    assert young.campaign_cap(300, NOW) == 25 - 23
    # In its first days the number receives first: warm-up takes its whole budget.
    newborn = NumberWarmup(declared_age_days=0, declared_at=NOW, pairs=(normal,))
    assert newborn.campaign_cap(300, NOW) == 0
    # The tenant's lower quota is the ceiling of the ramp too.
    assert established.campaign_cap(20, NOW) == 0
    # Two pairs: both reserves come off the lower ramp.
    soft = WarmupPairLoad(profile="soft", rounds_per_day=2, min_turns=2, max_turns=2)
    both = NumberWarmup(declared_age_days=None, declared_at=None, pairs=(normal, soft))
    assert both.campaign_cap(300, NOW) == 100 - 23 - 3
