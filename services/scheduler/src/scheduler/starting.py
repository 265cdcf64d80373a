"""Starting rounds: the scheduler's decision for one pair (a tick), and the cron's scan of all.

A tick locks the pair's state row, reads the pair, both numbers and what they sent today,
asks `warmup_rules.decide`, and either records why it skipped or plans the round (initiator,
2–6 turns, 1–3 messages a turn), stores it with its turns and stages `round.started`, then
requests the first turn at once. The cron (on the leader) and `POST /warmup/pairs/{id}/tick`
(on any replica, through the api) run this same code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import structlog

from messaging import is_infrastructure_error
from scheduler import repository
from scheduler.dependencies import Dependencies
from scheduler.leadership import Fence
from scheduler.pair_view import number_on, participant, rules_of, state_of
from scheduler.repository import NewRound, NewTurn
from scheduler.round_events import round_started, script_id_for, turn_id_for
from scheduler.turns import TurnFlow
from warmup_rules import WindowError, decide, plan_round

log = structlog.get_logger(__name__)

Trigger = Literal["cron", "manual"]
# Recorded when a pair's stored windows or zone cannot be read (the api validates them first).
INVALID_CONFIG = "invalid_config"


@dataclass(frozen=True)
class TickResult:
    """What a tick decided (the body of `POST /warmup/pairs/{id}/tick`)."""

    decision: Literal["started", "skipped"]
    reason: str | None = None
    detail: str = ""
    round_id: uuid.UUID | None = None


class RoundStarter:
    """Decides for a pair now, and starts its round when the decision says so."""

    def __init__(self, deps: Dependencies, turns: TurnFlow) -> None:
        self.deps = deps
        self.turns = turns

    async def tick(
        self,
        pair_id: uuid.UUID,
        *,
        tenant_id: uuid.UUID | None = None,
        trigger: Trigger = "manual",
        fence: Fence | None = None,
    ) -> TickResult | None:
        """Decide for one pair now; None when the tenant has no such pair (or leadership was lost)."""
        deps = self.deps
        now = deps.clock()
        async with deps.pool.acquire() as conn, conn.transaction():
            if fence is not None and not await fence.holds(conn):
                return None
            if not await repository.lock_pair(conn, pair_id, tenant_id):
                return None
            facts = await repository.load_pair_facts(conn, pair_id, now)
            if facts is None:
                return None
            try:
                rules = rules_of(facts)
            except (WindowError, ValueError) as error:
                detail = f"the pair's windows or time zone cannot be read: {error}"
                await repository.record_skip(
                    conn, pair_id, facts.tenant_id, INVALID_CONFIG, detail, trigger, now
                )
                return TickResult(decision="skipped", reason=INVALID_CONFIG, detail=detail)
            used_a, used_b = await deps.budget.used_today(
                [facts.a.number, facts.b.number], facts.tenant_time_zone, now
            )
            decision = decide(
                rules,
                state_of(facts),
                participant(facts, facts.a, used_a, now),
                participant(facts, facts.b, used_b, now),
                now,
                deps.rng,
            )
            if decision.initiator is None:
                reason = str(decision.reason)
                await repository.record_skip(
                    conn, pair_id, facts.tenant_id, reason, decision.detail, trigger, now
                )
                deps.metrics.skips.labels(reason).inc()
                return TickResult(decision="skipped", reason=reason, detail=decision.detail)
            plan = plan_round(
                decision.initiator, rules.min_turns, rules.max_turns, deps.settings.timing, deps.rng
            )
            initiator = number_on(facts, plan.initiator)
            responder = number_on(facts, plan.initiator.other)
            round_id = uuid.uuid4()
            new = NewRound(
                round_id=round_id,
                tenant_id=facts.tenant_id,
                pair_id=pair_id,
                initiator_instance_id=initiator.instance_id,
                responder_instance_id=responder.instance_id,
                script_id=script_id_for(round_id),
                topic=plan.topic,
                trigger=trigger,
                started_at=now,
                turns=[
                    NewTurn(
                        index=turn.index,
                        turn_id=turn_id_for(round_id, turn.index),
                        speaker_instance_id=number_on(facts, turn.speaker).instance_id,
                        listener_instance_id=number_on(facts, turn.speaker.other).instance_id,
                        messages=turn.messages,
                        reaction=turn.reaction,
                    )
                    for turn in plan.turns
                ],
            )
            await repository.insert_round(conn, new)
            staged = await deps.stage(conn, [round_started(new, len(plan.turns))])
        deps.relay.notify(staged)
        deps.metrics.rounds_started.labels(trigger).inc()
        log.info(
            "warm-up round started",
            pair_id=str(pair_id),
            round_id=str(round_id),
            initiator=initiator.name,
            turns=len(plan.turns),
            trigger=trigger,
        )
        # The first turn is due now; the leader's timer requests it too, so a failure here only
        # delays it (the round has started either way).
        try:
            await self.turns.request(round_id, 0)
        except Exception:
            log.exception("the first warm-up turn was not requested; the timer will", round_id=str(round_id))
        return TickResult(decision="started", round_id=round_id)

    async def scan(self, fence: Fence | None = None) -> int:
        """The cron's pass: a tick for every live pair; how many rounds started."""
        deps = self.deps
        started = 0
        for pair_id in await repository.active_pairs(deps.pool, deps.settings.only_tenants):
            if fence is not None and not fence.current:
                break
            try:
                result = await self.tick(pair_id, trigger="cron", fence=fence)
            except Exception as error:
                if is_infrastructure_error(error):
                    raise
                # One pair's broken data must not keep the others from their rounds.
                log.exception("warm-up tick failed", pair_id=str(pair_id))
                continue
            if result is not None and result.decision == "started":
                started += 1
        return started
