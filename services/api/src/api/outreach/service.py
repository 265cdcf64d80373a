"""Creating and steering campaigns (PRODUCT §4.1).

A campaign is created in one transaction: the campaign row, every contact row with its verdict
(one COPY), and one `outreach.requested` per accepted row through the outbox; the outreach
worker paces them per sending number. Nothing is created when the template does not render for
some rows (422 naming them) or the tenant's daily quota is already spent (429).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from api.domain_errors import DomainError, ErrorKind, not_found
from api.outreach import repository
from api.outreach.repository import CampaignRow, NewCampaign
from api.outreach.schemas import CampaignCreate
from api.outreach.screening import AcceptedRow, ContactRow, RejectedRow, candidate_numbers, screen
from api.outreach.templates import MessageTemplate, RowRenderError, TemplateInvalidError
from api.tenants.repository import Tenant
from contracts import Topic, utc_now
from contracts.phones import canonical_digits, digit_variants
from database import Pool
from messaging import Outbox, StagedEventSink
from quotas import QuotaGate, local_periods

# How many failing rows a 422 lists (the message gives the total).
MAX_LISTED_ROWS = 100


class DailyLimitReachedError(Exception):
    """The tenant's daily quota is spent: no campaign is created today (429)."""

    def __init__(self, limit: int, used: int, retry_at: datetime) -> None:
        super().__init__("daily limit reached")
        self.limit = limit
        self.used = used
        self.retry_at = retry_at


@dataclass(frozen=True)
class CreatedCampaign:
    """A stored campaign and its per-row report."""

    id: uuid.UUID
    state: str
    accepted: int
    rejected: list[RejectedRow]


_TRANSITIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pause": ("paused", ("running",)),
    "resume": ("running", ("paused",)),
    "cancel": ("cancelled", ("running", "paused")),
}


def _rendered(template: MessageTemplate, rows: Sequence[AcceptedRow]) -> list[str]:
    texts: list[str] = []
    failures: list[dict[str, Any]] = []
    for row in rows:
        try:
            texts.append(template.render(row.variables))
        except RowRenderError as error:
            failures.append({"row": row.index, "error": str(error)})
    if failures:
        raise DomainError(
            ErrorKind.INVALID,
            "template_render_failed",
            f"the template does not render for {len(failures)} row(s): "
            + ", ".join(str(item["row"]) for item in failures[:MAX_LISTED_ROWS]),
            details=failures[:MAX_LISTED_ROWS],
        )
    return texts


class OutreachPayloads:
    """The wire form of a campaign's `outreach.requested` events, encoded without building their
    models: what every row shares is encoded once, and each row adds its ids, number and text
    (a test holds the bytes equal to `RequestOutreach(...).to_json_bytes()` parsed back)."""

    def __init__(self, *, occurred_at: datetime, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
        self._after_event_id = (
            f'","type":"outreach.requested","version":1,"occurred_at":"{occurred_at.isoformat()}",'
            f'"tenant_id":"{tenant_id}","correlation_id":"{campaign_id}","causation_id":null,'
            f'"data":{{"campaign_id":"{campaign_id}","target_id":"'
        ).encode()
        self._instances: dict[tuple[uuid.UUID, str], bytes] = {}

    def encode(
        self, *, event_id: str, target_id: str, instance_id: uuid.UUID, instance_name: str, to: str, text: str
    ) -> bytes:
        """One row's event; `event_id` and `target_id` are UUIDs in their text form."""
        instance = self._instances.get((instance_id, instance_name))
        if instance is None:
            instance = f'","instance_id":"{instance_id}","instance_name":'.encode() + orjson.dumps(
                instance_name
            )
            self._instances[(instance_id, instance_name)] = instance
        return b"".join(
            (
                b'{"event_id":"',
                event_id.encode(),
                self._after_event_id,
                target_id.encode(),
                instance,
                b',"to":',
                orjson.dumps(to),
                b',"text":',
                orjson.dumps(text),
                b',"not_before":null,"attempt":0}}',
            )
        )


def random_uuid_strings(count: int) -> list[str]:
    """`count` random (version 4) UUIDs in their text form, as `str(uuid.uuid4())` spells them,
    from one read of the system's randomness (asyncpg takes the text form for uuid columns)."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes((byte & 0x0F) | 0x40 for byte in raw[6::16])
    raw[8::16] = bytes((byte & 0x3F) | 0x80 for byte in raw[8::16])
    text = raw.hex()
    return [
        f"{text[i : i + 8]}-{text[i + 8 : i + 12]}-{text[i + 12 : i + 16]}"
        f"-{text[i + 16 : i + 20]}-{text[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


class CampaignService:
    """The api's campaigns: create, read, pause, resume, cancel."""

    def __init__(self, *, pool: Pool, outbox: Outbox, relay: StagedEventSink, gate: QuotaGate) -> None:
        self._pool = pool
        self._outbox = outbox
        self._relay = relay
        self.gate = gate

    async def daily_usage(self, tenant: Tenant, now: datetime) -> int:
        """How many sends the tenant's local day has taken."""
        periods = local_periods(now, tenant.time_zone)
        (used,) = await self.gate.used([self.gate.keys.daily(tenant.id, periods)])
        return used

    async def create(self, tenant: Tenant, body: CampaignCreate) -> CreatedCampaign:
        """Validate, store and start a campaign (see the module's docstring)."""
        try:
            template = MessageTemplate(body.template)
        except TemplateInvalidError as error:
            raise DomainError(
                ErrorKind.INVALID, "template_invalid", f"the template does not compile: {error}"
            ) from None
        names = list(dict.fromkeys(body.instances))
        rows = [
            ContactRow(index, contact.phone, dict(contact.variables))
            for index, contact in enumerate(body.contacts)
        ]
        campaign_id = uuid.uuid4()
        async with self._pool.acquire() as conn:
            instances = await repository.instances_named(conn, tenant.id, names)
            missing = [name for name in names if name not in instances]
            if missing:
                raise DomainError(
                    ErrorKind.INVALID,
                    "unknown_instance",
                    f"no such instance for this tenant: {', '.join(missing)}",
                )
            instance_ids = [instances[name] for name in names]
            numbers = candidate_numbers(rows)
            canonical = sorted({canonical_digits(n) for n in numbers})
            facts = await repository.consent_facts(conn, tenant.id, numbers, canonical, instance_ids)
            accepted, rejected = screen(
                rows, opted_out=facts.opted_out, blacklisted=facts.blacklisted, suppressed=facts.suppressed
            )
            texts = _rendered(template, accepted)
            # Bad input is a 422 whatever the day's usage; a valid campaign on a spent day is a 429.
            now = utc_now()
            used = await self.daily_usage(tenant, now)
            if used >= tenant.daily_quota:
                raise DailyLimitReachedError(
                    tenant.daily_quota, used, local_periods(now, tenant.time_zone).next_day
                )
            assigned = self._assign(accepted, instance_ids, facts.last_instance)
            records, encoded = self._records(
                tenant, campaign_id, accepted, rejected, texts, assigned, instances
            )
            async with conn.transaction():
                await repository.insert_campaign(
                    conn,
                    NewCampaign(
                        id=campaign_id,
                        tenant_id=tenant.id,
                        name=body.name,
                        instance_ids=instance_ids,
                        template=body.template,
                        personalise=body.personalise,
                        window=[window.model_dump() for window in body.window or []],
                        pacing=(body.pacing.model_dump() if body.pacing is not None else {}),
                        accepted=len(accepted),
                        rejected=len(rejected),
                    ),
                )
                await repository.copy_targets(conn, records)
                prepared = self._outbox.prepare_encoded(
                    str(Topic.OUTREACH_REQUESTED), "outreach.requested", str(campaign_id), encoded
                )
                staged = await self._outbox.stage_prepared(conn, prepared)
        self._relay.notify(staged)
        return CreatedCampaign(id=campaign_id, state="running", accepted=len(accepted), rejected=rejected)

    @staticmethod
    def _assign(
        accepted: Sequence[AcceptedRow], instance_ids: Sequence[uuid.UUID], last: dict[str, uuid.UUID]
    ) -> list[uuid.UUID]:
        """Each row's number: the one the contact last talked with, else the next in rotation."""
        rotation = itertools.cycle(instance_ids)
        if not last:
            return [next(rotation) for _ in accepted]
        chosen: list[uuid.UUID] = []
        for row in accepted:
            sticky = next((last[v] for v in digit_variants(row.digits) if v in last), None)
            chosen.append(sticky if sticky is not None else next(rotation))
        return chosen

    @staticmethod
    def _records(
        tenant: Tenant,
        campaign_id: uuid.UUID,
        accepted: Sequence[AcceptedRow],
        rejected: Sequence[RejectedRow],
        texts: Sequence[str],
        assigned: Sequence[uuid.UUID],
        instances: dict[str, uuid.UUID],
    ) -> tuple[list[tuple[object, ...]], list[tuple[bytes, bytes]]]:
        names = {instance_id: name for name, instance_id in instances.items()}
        keys = {instance_id: instance_id.bytes for instance_id in names}
        payloads = OutreachPayloads(occurred_at=utc_now(), tenant_id=tenant.id, campaign_id=campaign_id)
        records: list[tuple[object, ...]] = []
        encoded: list[tuple[bytes, bytes]] = []
        # Two random ids per row (target, event) from one read of the system's randomness.
        ids = random_uuid_strings(2 * len(accepted) + len(rejected))
        for position, (row, text, instance_id) in enumerate(zip(accepted, texts, assigned, strict=True)):
            target_id = ids[2 * position]
            records.append(
                (
                    target_id,
                    tenant.id,
                    campaign_id,
                    row.index,
                    row.digits,
                    row.variables,
                    instance_id,
                    text,
                    "ok",
                )
            )
            encoded.append(
                (
                    keys[instance_id],
                    payloads.encode(
                        event_id=ids[2 * position + 1],
                        target_id=target_id,
                        instance_id=instance_id,
                        instance_name=names[instance_id],
                        to=row.digits,
                        text=text,
                    ),
                )
            )
        records.extend(
            (
                ids[2 * len(accepted) + i],
                tenant.id,
                campaign_id,
                r.index,
                r.phone,
                {},
                None,
                None,
                r.reason.value,
            )
            for i, r in enumerate(rejected)
        )
        return records, encoded

    async def get(self, tenant: Tenant, campaign_id: uuid.UUID) -> CampaignRow:
        """One campaign (404 for another tenant's)."""
        found = await repository.get_campaign(self._pool, tenant.id, campaign_id)
        if found is None:
            raise not_found("campaign")
        return found

    async def require(self, tenant: Tenant, campaign_id: uuid.UUID) -> None:
        """404 unless the tenant has this campaign (without counting its targets)."""
        if not await repository.campaign_exists(self._pool, tenant.id, campaign_id):
            raise not_found("campaign")

    async def steer(self, tenant: Tenant, campaign_id: uuid.UUID, action: str) -> CampaignRow:
        """Pause, resume or cancel (409 when the campaign's state does not allow it)."""
        to, allowed = _TRANSITIONS[action]
        async with self._pool.acquire() as conn:
            before = await repository.set_status(conn, tenant.id, campaign_id, to=to, allowed_from=allowed)
        if before is None:
            raise not_found("campaign")
        if before not in allowed and before != to:
            raise DomainError(
                ErrorKind.CONFLICT,
                "campaign_state_conflict",
                f"a {before} campaign cannot be told to {action}",
            )
        return await self.get(tenant, campaign_id)
