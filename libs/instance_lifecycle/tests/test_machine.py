"""The state machine as data: every path legal, every state defined, nothing unreachable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contracts import InstanceState
from instance_lifecycle import LEGAL_TRANSITIONS, Trigger, plan, trigger_for_connection_update

S = InstanceState


@given(st.lists(st.sampled_from(list(Trigger)), max_size=60))
def test_no_sequence_of_triggers_reaches_an_undefined_state_or_takes_an_illegal_edge(
    triggers: list[Trigger],
) -> None:
    state = S.CREATING
    for trigger in triggers:
        decided = plan(state, trigger)
        if decided.refused:
            assert decided.target is state
            continue
        previous = state
        for step in decided.path or ():
            assert isinstance(step, InstanceState)
            assert (previous, step) in LEGAL_TRANSITIONS, (previous, step, trigger)
            previous = step
        state = decided.target
        assert state in set(InstanceState)


def test_every_legal_edge_is_used_by_some_trigger() -> None:
    used = set()
    for state in InstanceState:
        for trigger in Trigger:
            decided = plan(state, trigger)
            previous = state
            for step in decided.path or ():
                used.add((previous, step))
                previous = step
    assert used == LEGAL_TRANSITIONS


def test_every_state_is_reachable_from_creating() -> None:
    reached = {S.CREATING}
    frontier = [S.CREATING]
    while frontier:
        state = frontier.pop()
        for trigger in Trigger:
            target = plan(state, trigger).target
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(InstanceState)


def test_removed_is_terminal() -> None:
    for trigger in Trigger:
        assert plan(S.REMOVED, trigger).target is S.REMOVED


def test_onboarding_happy_path() -> None:
    assert plan(S.CREATING, Trigger.CREATED).path == (S.OPEN,)
    assert plan(S.OPEN, Trigger.QR_EXPIRED).path == (S.EXPIRED,)
    assert plan(S.EXPIRED, Trigger.QR_ISSUED).path == (S.OPEN,)
    assert plan(S.OPEN, Trigger.EVOLUTION_OPEN).path == (S.CONNECTED,)


def test_evolution_reports_map_to_the_product_states() -> None:
    assert trigger_for_connection_update("open", 200) is Trigger.EVOLUTION_OPEN
    assert trigger_for_connection_update("connecting", 200) is Trigger.EVOLUTION_CONNECTING
    assert trigger_for_connection_update("close", 401) is Trigger.EVOLUTION_LOGGED_OUT
    assert trigger_for_connection_update("close", 403) is Trigger.EVOLUTION_BANNED
    assert trigger_for_connection_update("refused", 428) is Trigger.EVOLUTION_REFUSED
    assert trigger_for_connection_update("close", 406) is Trigger.EVOLUTION_CLOSED
    assert trigger_for_connection_update("weird", None) is None


def test_a_lost_connection_goes_through_disconnected_then_reconnects() -> None:
    assert plan(S.CONNECTED, Trigger.EVOLUTION_CONNECTING).path == (S.DISCONNECTED, S.CONNECTING)
    assert plan(S.DISCONNECTED, Trigger.EVOLUTION_OPEN).path == (S.CONNECTING, S.CONNECTED)


def test_illegal_triggers_are_refused() -> None:
    assert plan(S.CONNECTED, Trigger.CREATED).refused
    assert plan(S.CONNECTED, Trigger.QR_EXPIRED).refused
    assert plan(S.REMOVED, Trigger.EVOLUTION_OPEN).refused
    assert plan(S.CLOSED, Trigger.EVOLUTION_CONNECTING).refused
