"""Every SQL statement of the outreach worker.

The outreach writes `campaign_target_progress` (each target's state) and
`outreach_number_pace` (when each number may take its next campaign send), plus its rows of
`processed_events` and `outbox`. It reads the api's `campaigns`, `campaign_targets`,
`tenants`, `instances`, `blacklist` and `suppressions`, and the guard's `opt_outs`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.phones import digit_variants, phone_digits, suppression_hash
from database import Connection
from messaging import Outbox, PreparedEvents
from outreach.target_rules import (
    CampaignStatus,
    NumberOption,
    NumberWarmup,
    Reason,
    TargetState,
    WarmupPairLoad,
)

# Claims the event and gives a target its progress row the first time it is requested.
# $1 consumer, $2 event id, $3 target, $4 tenant, $5 campaign, $6 due, $7 number, $8 phone.
_CLAIM_AND_OPEN = """
WITH claimed AS (
    INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
    ON CONFLICT DO NOTHING RETURNING true
), opened AS (
    INSERT INTO campaign_target_progress (target_id, tenant_id, campaign_id, state, next_attempt_at,
                                          instance_id, phone)
    SELECT $3, $4, $5, 'queued', $6, $7, $8 WHERE EXISTS (SELECT 1 FROM claimed)
    ON CONFLICT (target_id) DO NOTHING RETURNING true
)
SELECT EXISTS (SELECT 1 FROM claimed) AS claimed, EXISTS (SELECT 1 FROM opened) AS opened
"""

# One target's progress (locked), campaign, tenant, consent and sending numbers.
# $1 target, $2 tenant, $3 phone variants, $4 suppression hash.
_TARGET_FACTS = """
SELECT p.state, p.instance_id AS assigned, p.attempts, t.not_before, t.phone, t.rendered_text,
       t.variables, c.id AS campaign_id, c.status, c.send_window, c.pacing, c.personalize, c.template,
       tn.time_zone, tn.daily_quota, tn.hourly_quota, tn.number_daily_quota,
       EXISTS (SELECT 1 FROM opt_outs o WHERE o.tenant_id = $2 AND o.phone = ANY($3::text[])) AS opted_out,
       EXISTS (SELECT 1 FROM blacklist b WHERE b.tenant_id = $2 AND b.phone = ANY($3::text[])) AS blacklisted,
       EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant_id = $2 AND s.phone_hash = $4) AS suppressed,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'id', i.id, 'name', i.name, 'jid', i.owner_jid,
                   'connected', i.state = 'connected' AND NOT i.sending_stopped,
                   'free_at', CASE WHEN pace.claimed_target = $1 THEN NULL ELSE pace.next_send_at END,
                   'age', wn.declared_age_days, 'declared_at', wn.declared_at,
                   'warmups', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                   'profile', wp.profile, 'rounds', wp.max_rounds_per_day,
                                   'min_turns', wp.min_turns, 'max_turns', wp.max_turns)), '[]'::jsonb)
                               FROM warmup_pairs wp
                               WHERE wp.tenant_id = $2 AND wp.active AND wp.deleted_at IS NULL
                                 AND i.id IN (wp.instance_a_id, wp.instance_b_id)))
               ORDER BY u.n), '[]'::jsonb)
        FROM unnest(c.instance_ids) WITH ORDINALITY AS u(id, n)
        JOIN instances i ON i.id = u.id AND i.tenant_id = $2
        LEFT JOIN outreach_number_pace pace ON pace.instance_id = i.id
        LEFT JOIN warmup_numbers wn ON wn.instance_id = i.id) AS numbers
FROM campaign_target_progress p
JOIN campaign_targets t ON t.id = p.target_id
JOIN campaigns c ON c.id = t.campaign_id
JOIN tenants tn ON tn.id = t.tenant_id
WHERE p.target_id = $1 AND p.tenant_id = $2
FOR UPDATE OF p
"""


@dataclass(frozen=True)
class TargetRecord:
    """What the worker read about one target."""

    tenant_id: uuid.UUID
    state: TargetState
    assigned: uuid.UUID | None
    attempts: int
    not_before: datetime | None
    phone: str
    text: str
    campaign_id: uuid.UUID
    campaign_status: CampaignStatus
    windows: list[dict[str, Any]]
    pacing: dict[str, Any]
    time_zone: str
    daily_quota: int
    hourly_quota: int
    number_daily_quota: int
    consent: Reason | None
    numbers: tuple[NumberOption, ...]
    # The campaign asked for each message to be rewritten in the sending number's persona.
    personalise: bool = False
    template: str = ""
    variables: dict[str, Any] = field(default_factory=dict)


def _number_key(jid: str | None, instance_id: str) -> str:
    digits = phone_digits(jid) if jid else ""
    return digits or instance_id


def _numbers(items: list[dict[str, Any]]) -> tuple[NumberOption, ...]:
    return tuple(
        NumberOption(
            instance_id=uuid.UUID(item["id"]),
            name=item["name"],
            number=_number_key(item["jid"], item["id"]),
            connected=bool(item["connected"]),
            free_at=datetime.fromisoformat(item["free_at"]) if item["free_at"] else None,
            warmup=_warmup(item),
        )
        for item in items
    )


def _warmup(item: dict[str, Any]) -> NumberWarmup | None:
    pairs = item.get("warmups") or []
    if not pairs:
        return None
    return NumberWarmup(
        declared_age_days=item.get("age"),
        declared_at=datetime.fromisoformat(item["declared_at"]) if item.get("declared_at") else None,
        pairs=tuple(
            WarmupPairLoad(
                profile=pair["profile"],
                rounds_per_day=pair["rounds"],
                min_turns=pair["min_turns"],
                max_turns=pair["max_turns"],
            )
            for pair in pairs
        ),
    )


async def claim_and_open(
    conn: Connection,
    *,
    consumer: str,
    event_id: uuid.UUID,
    target_id: uuid.UUID,
    tenant_id: uuid.UUID,
    campaign_id: uuid.UUID,
    due: datetime,
    instance_id: uuid.UUID,
    phone: str,
) -> bool:
    """Claim the event; give the target its progress row if it has none. False: a duplicate."""
    row = await conn.fetchrow(
        _CLAIM_AND_OPEN, consumer, event_id, target_id, tenant_id, campaign_id, due, instance_id, phone
    )
    return bool(row is not None and row["claimed"])


async def target_facts(
    conn: Connection, target_id: uuid.UUID, tenant_id: uuid.UUID, phone: str
) -> TargetRecord | None:
    """The target's progress (locked until the transaction ends) and everything around it."""
    digits = phone_digits(phone)
    variants = list(digit_variants(digits))
    row = await conn.fetchrow(
        _TARGET_FACTS, target_id, tenant_id, variants, suppression_hash(tenant_id, digits)
    )
    if row is None:
        return None
    consent = None
    if row["suppressed"]:
        consent = Reason.SUPPRESSED
    elif row["opted_out"]:
        consent = Reason.OPTED_OUT
    elif row["blacklisted"]:
        consent = Reason.BLACKLISTED
    # jsonb arrives decoded (the pool's codec).
    windows = row["send_window"]
    return TargetRecord(
        tenant_id=tenant_id,
        state=TargetState(row["state"]),
        assigned=row["assigned"],
        attempts=row["attempts"],
        not_before=row["not_before"],
        phone=row["phone"],
        text=row["rendered_text"] or "",
        campaign_id=row["campaign_id"],
        campaign_status=CampaignStatus(row["status"]),
        windows=windows if isinstance(windows, list) else [],
        pacing=row["pacing"],
        time_zone=row["time_zone"],
        daily_quota=row["daily_quota"],
        hourly_quota=row["hourly_quota"],
        number_daily_quota=row["number_daily_quota"],
        consent=consent,
        numbers=_numbers(row["numbers"]),
        personalise=row["personalize"],
        template=row["template"],
        variables=row["variables"] if isinstance(row["variables"], dict) else {},
    )


async def lock_number(
    conn: Connection, instance_id: uuid.UUID, tenant_id: uuid.UUID, target_id: uuid.UUID
) -> datetime | None:
    """Lock a number's pace row (creating it); when it is next free for this target (None: now)."""
    row = await conn.fetchrow(
        "INSERT INTO outreach_number_pace AS pace (instance_id, tenant_id, next_send_at)"
        " VALUES ($1, $2, now())"
        " ON CONFLICT (instance_id) DO UPDATE SET updated_at = now()"
        " RETURNING CASE WHEN pace.claimed_target = $3 THEN NULL ELSE pace.next_send_at END AS free_at",
        instance_id,
        tenant_id,
        target_id,
    )
    return row["free_at"] if row is not None else None


async def wait(
    conn: Connection,
    target_id: uuid.UUID,
    *,
    state: TargetState,
    due: datetime,
    reason: Reason | None,
    instance_id: uuid.UUID | None,
) -> None:
    """The target waits (queued or rescheduled) until `due`, on `instance_id` when given; a claim
    the scanner put on its number for it is released."""
    await conn.execute(
        "WITH waited AS (UPDATE campaign_target_progress"
        "  SET state = $2, next_attempt_at = $3, reason = $4, instance_id = coalesce($5, instance_id),"
        "      updated_at = now() WHERE target_id = $1 RETURNING target_id)"
        " UPDATE outreach_number_pace SET claimed_target = NULL, next_send_at = least(next_send_at, now()),"
        "   updated_at = now() WHERE claimed_target = $1 AND busy_send_id IS NULL",
        target_id,
        state.value,
        due,
        reason.value if reason is not None else None,
        instance_id,
    )


async def finish(conn: Connection, target_id: uuid.UUID, *, state: TargetState, reason: str | None) -> None:
    """The target ends without a send (skipped); a claim on its number is released."""
    await conn.execute(
        "WITH done AS (UPDATE campaign_target_progress"
        "  SET state = $2, reason = $3, next_attempt_at = NULL, updated_at = now() WHERE target_id = $1"
        "  RETURNING target_id)"
        " UPDATE outreach_number_pace SET claimed_target = NULL, next_send_at = least(next_send_at, now()),"
        "   updated_at = now() WHERE claimed_target = $1 AND busy_send_id IS NULL",
        target_id,
        state.value,
        reason,
    )


# Only the outbox CTE's constant text is formatted in.
_START_SEND = f"""
WITH moved AS (
    UPDATE campaign_target_progress
    SET state = 'sending', send_id = $2, instance_id = $3, attempts = attempts + 1, reason = NULL,
        next_attempt_at = NULL, updated_at = now()
    WHERE target_id = $1 AND state IN ('queued', 'rescheduled') RETURNING target_id
), paced AS (
    UPDATE outreach_number_pace
    SET next_send_at = now() + make_interval(secs => $4), busy_send_id = $2, claimed_target = NULL,
        updated_at = now()
    WHERE instance_id = $3 AND EXISTS (SELECT 1 FROM moved) RETURNING instance_id
), released AS (
    UPDATE outreach_number_pace SET claimed_target = NULL, next_send_at = least(next_send_at, now())
    WHERE claimed_target = $1 AND instance_id <> $3 AND busy_send_id IS NULL RETURNING instance_id
), {Outbox.staging_cte("staged", 5, when="EXISTS (SELECT 1 FROM moved)")}
SELECT (SELECT count(*) FROM moved) AS moved, coalesce(array_agg(staged.id ORDER BY staged.id), '{{}}') AS ids
FROM staged
"""  # noqa: S608


async def start_send(
    conn: Connection,
    outbox: Outbox,
    prepared: PreparedEvents,
    *,
    target_id: uuid.UUID,
    send_id: uuid.UUID,
    instance_id: uuid.UUID,
    lease_s: float,
) -> list[int]:
    """Move the target to `sending` on `instance_id`, hold the number until the outcome (or the
    lease), and stage the `send.requested`, in one statement; the staged outbox ids."""
    row = await conn.fetchrow(
        _START_SEND, target_id, send_id, instance_id, lease_s, *outbox.staging_arguments(prepared)
    )
    return list(row["ids"]) if row is not None else []


async def reschedule_many(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    due: datetime,
    reason: Reason,
    campaign_id: uuid.UUID | None = None,
    instance_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Every waiting target of the tenant (or of one campaign, or one campaign's numbers) that
    would be due before `due` waits until then: a spent period blocks them all at once."""
    result = await conn.execute(
        "UPDATE campaign_target_progress SET state = 'rescheduled', reason = $3, next_attempt_at = $2,"
        " updated_at = now()"
        " WHERE tenant_id = $1 AND state IN ('queued', 'rescheduled') AND next_attempt_at < $2"
        "   AND ($4::uuid IS NULL OR campaign_id = $4)"
        "   AND ($5::uuid[] IS NULL OR instance_id = ANY($5::uuid[]))",
        tenant_id,
        due,
        reason.value,
        campaign_id,
        list(instance_ids) if instance_ids is not None else None,
    )
    return int(result.split()[-1])


@dataclass(frozen=True)
class SendRecord:
    """A campaign target that is (or was) on its way through the sender."""

    target_id: uuid.UUID
    state: TargetState
    reason: str | None
    instance_id: uuid.UUID | None
    pacing: dict[str, Any]


async def claim_outcome(
    conn: Connection, consumer: str, event_id: uuid.UUID, send_id: uuid.UUID
) -> SendRecord | None:
    """Claim an outcome event and lock the target it settles; None for a duplicate or a send
    that is not a campaign's."""
    row = await conn.fetchrow(
        "WITH claimed AS (INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
        "  ON CONFLICT DO NOTHING RETURNING true)"
        " SELECT p.target_id, p.state, p.reason, p.instance_id, c.pacing"
        " FROM campaign_target_progress p JOIN campaigns c ON c.id = p.campaign_id"
        " WHERE p.send_id = $3 AND EXISTS (SELECT 1 FROM claimed) FOR UPDATE OF p",
        consumer,
        event_id,
        send_id,
    )
    if row is None:
        return None
    return SendRecord(
        target_id=row["target_id"],
        state=TargetState(row["state"]),
        reason=row["reason"],
        instance_id=row["instance_id"],
        pacing=row["pacing"],
    )


async def settle(
    conn: Connection,
    record: SendRecord,
    *,
    send_id: uuid.UUID,
    state: TargetState | None,
    reason: str | None,
    gap_s: float,
) -> None:
    """Store the outcome (when it changes the state) and free the number after a paced gap."""
    await conn.execute(
        "WITH settled AS (UPDATE campaign_target_progress SET state = $2, reason = $3, updated_at = now()"
        "   WHERE target_id = $1 AND $2::text IS NOT NULL RETURNING target_id)"
        " UPDATE outreach_number_pace SET busy_send_id = NULL, updated_at = now(),"
        "   next_send_at = now() + make_interval(secs => $5)"
        " WHERE busy_send_id = $4",
        record.target_id,
        state.value if state is not None else None,
        reason,
        send_id,
        gap_s,
    )


async def skip_contact(
    conn: Connection, consumer: str, event_id: uuid.UUID, tenant_id: uuid.UUID, phones: Sequence[str]
) -> int:
    """A contact opted out: every waiting target with its number, in every campaign, is skipped."""
    row = await conn.fetchrow(
        "WITH claimed AS (INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
        "  ON CONFLICT DO NOTHING RETURNING true),"
        " skipped AS (UPDATE campaign_target_progress SET state = 'skipped', reason = 'opted_out',"
        "   next_attempt_at = NULL, updated_at = now()"
        "   WHERE tenant_id = $3 AND phone = ANY($4::text[]) AND state IN ('queued', 'rescheduled')"
        "     AND EXISTS (SELECT 1 FROM claimed) RETURNING 1)"
        " SELECT count(*) AS n FROM skipped",
        consumer,
        event_id,
        tenant_id,
        list(phones),
    )
    return int(row["n"]) if row is not None else 0


# The scanner. Cancelled campaigns' waiting targets are skipped; then, per connected number
# that is free, its first due target is claimed (the number is held for it for `$1` seconds),
# plus a few due targets whose number is gone (to rotate them to another). Each chosen target's
# due time moves `$1` seconds on, so a request that got lost is made again after that.
_CANCEL_SQL = """
UPDATE campaign_target_progress p SET state = 'skipped', reason = 'campaign_cancelled',
    next_attempt_at = NULL, updated_at = now()
FROM campaigns c
WHERE c.id = p.campaign_id AND c.status = 'cancelled' AND p.state IN ('queued', 'rescheduled')
"""

_SCAN_SQL = """
WITH free AS (
    SELECT i.id FROM instances i
    LEFT JOIN outreach_number_pace pace ON pace.instance_id = i.id
    WHERE i.state = 'connected' AND NOT i.sending_stopped
      AND coalesce(pace.next_send_at, '-infinity') <= now()
      AND EXISTS (SELECT 1 FROM campaign_target_progress p
                  WHERE p.instance_id = i.id AND p.state IN ('queued', 'rescheduled')
                    AND p.next_attempt_at <= now())
), first_due AS (
    SELECT DISTINCT ON (p.instance_id) p.target_id, p.instance_id
    FROM campaign_target_progress p JOIN campaigns c ON c.id = p.campaign_id
    WHERE p.instance_id IN (SELECT id FROM free) AND p.state IN ('queued', 'rescheduled')
      AND p.next_attempt_at <= now() AND c.status = 'running'
    ORDER BY p.instance_id, p.next_attempt_at, p.created_at, p.target_id
), stranded AS (
    SELECT p.target_id FROM campaign_target_progress p
    JOIN campaigns c ON c.id = p.campaign_id
    LEFT JOIN instances i ON i.id = p.instance_id
    WHERE p.state IN ('queued', 'rescheduled') AND p.next_attempt_at <= now() AND c.status = 'running'
      AND (i.id IS NULL OR i.state <> 'connected' OR i.sending_stopped)
    ORDER BY p.next_attempt_at LIMIT $2
), locked AS (
    SELECT p.target_id FROM campaign_target_progress p
    WHERE p.target_id IN (SELECT target_id FROM first_due UNION SELECT target_id FROM stranded)
    FOR UPDATE OF p SKIP LOCKED
), bumped AS (
    UPDATE campaign_target_progress p SET next_attempt_at = now() + make_interval(secs => $1),
        updated_at = now()
    FROM locked WHERE p.target_id = locked.target_id
    RETURNING p.target_id, p.tenant_id, p.campaign_id, p.instance_id, p.attempts
), held AS (
    UPDATE outreach_number_pace pace SET claimed_target = first_due.target_id,
        next_send_at = now() + make_interval(secs => $1), updated_at = now()
    FROM first_due JOIN bumped USING (target_id)
    WHERE pace.instance_id = first_due.instance_id
    RETURNING pace.instance_id
)
SELECT b.target_id, b.tenant_id, b.campaign_id, b.instance_id, b.attempts, t.phone, t.rendered_text,
       coalesce(i.name, '') AS instance_name
FROM bumped b JOIN campaign_targets t ON t.id = b.target_id
LEFT JOIN instances i ON i.id = b.instance_id
"""


@dataclass(frozen=True)
class DueTarget:
    """A target the scanner requests again."""

    target_id: uuid.UUID
    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    phone: str
    text: str
    attempts: int


async def skip_cancelled(conn: Connection) -> int:
    """Waiting targets of cancelled campaigns end `skipped` (`campaign_cancelled`)."""
    result = await conn.execute(_CANCEL_SQL)
    return int(result.split()[-1])


async def ensure_pace_rows(conn: Connection) -> None:
    """Every connected number with waiting targets has a pace row the scanner can hold."""
    await conn.execute(
        "INSERT INTO outreach_number_pace (instance_id, tenant_id, next_send_at)"
        " SELECT DISTINCT p.instance_id, p.tenant_id, now() FROM campaign_target_progress p"
        " JOIN instances i ON i.id = p.instance_id"
        " WHERE p.state IN ('queued', 'rescheduled') AND p.next_attempt_at <= now()"
        "   AND NOT EXISTS (SELECT 1 FROM outreach_number_pace pace WHERE pace.instance_id = p.instance_id)"
        " ON CONFLICT DO NOTHING"
    )


async def claim_due(conn: Connection, *, hold_s: float, stranded_limit: int) -> list[DueTarget]:
    """Claim the targets to request again now (see `_SCAN_SQL`)."""
    rows = await conn.fetch(_SCAN_SQL, hold_s, stranded_limit)
    return [
        DueTarget(
            target_id=row["target_id"],
            tenant_id=row["tenant_id"],
            campaign_id=row["campaign_id"],
            instance_id=row["instance_id"],
            instance_name=row["instance_name"],
            phone=row["phone"],
            text=row["rendered_text"] or "",
            attempts=row["attempts"],
        )
        for row in rows
    ]
