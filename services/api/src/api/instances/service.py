"""What the api does with instances: every Evolution call and every state change.

State changes go through `instance_lifecycle.apply_trigger` only, inside a
transaction that stages the resulting `instance.status_changed` events in the
api's outbox; the relay publishes them after the commit.

Deleting moves the instance to `closed` *before* Evolution logs it out: the
`connection.update close 401` webhook that the logout itself causes then finds
the instance closed and is refused by the state machine, instead of being taken
for WhatsApp logging the number out (which raises an admin alert).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from api.domain_errors import DomainError, ErrorKind, not_found
from api.instances import repository
from api.instances.evolution_failures import domain_error_for
from api.instances.repository import Instance, NameTakenError, NewInstance
from api.settings import ApiSettings
from contracts import InstanceState, stable_id
from database import Pool
from evolution_client import (
    ConnectionState,
    EvolutionClient,
    EvolutionError,
    EvolutionNotFoundError,
    EvolutionOutcomeUnknownError,
    EvolutionRejectedError,
    QrCode,
    WebhookConfig,
)
from instance_lifecycle import (
    Outcome,
    Pairing,
    Trigger,
    apply_trigger,
    database_now,
    plan,
    report_applied_since,
    trigger_for_connection_update,
)
from instance_lifecycle import QrCode as LifecycleQr
from messaging import Outbox, OutboxRelay

log = structlog.get_logger(__name__)

# Safe in an Evolution URL path segment and in a webhook envelope.
INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LIVE_STATES = frozenset(
    {
        InstanceState.OPEN,
        InstanceState.EXPIRED,
        InstanceState.CONNECTING,
        InstanceState.CONNECTED,
        InstanceState.DISCONNECTED,
    }
)


@dataclass(frozen=True)
class CreateInstance:
    """An operator's request to create an instance."""

    name: str
    integration: str | None = None
    webhook_auth: str | None = None
    persona_id: uuid.UUID | None = None
    number: str | None = None
    reply_to_groups: bool = False
    reply_to_broadcasts: bool = False


@dataclass(frozen=True)
class QrView:
    """What `GET /instances/{id}/qr` shows."""

    instance: Instance
    connected: bool
    code: str | None = None
    data_url: str | None = None
    pairing_code: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class StatusView:
    """What `GET /instances/{id}/status` shows."""

    instance: Instance
    evolution_state: str | None


def new_token() -> str:
    """An instance token, in Evolution's own upper-case hex style."""
    return secrets.token_hex(16).upper()


def new_webhook_secret() -> str:
    """A per-instance webhook secret (the JWT signing key or the static header value)."""
    return secrets.token_urlsafe(32)


class InstanceService:
    """Instances of one api process: Evolution calls plus state-machine transitions."""

    def __init__(
        self,
        *,
        pool: Pool,
        evolution: EvolutionClient,
        outbox: Outbox,
        relay: OutboxRelay,
        settings: ApiSettings,
    ) -> None:
        self.pool = pool
        self.evolution = evolution
        self.outbox = outbox
        self.relay = relay
        self.settings = settings

    # --- reading -------------------------------------------------------------------

    async def get(self, tenant_id: uuid.UUID, instance_id: uuid.UUID) -> Instance:
        """The tenant's live instance (404 for anything else, another tenant's included)."""
        instance = await repository.get(self.pool, tenant_id, instance_id)
        if instance is None:
            raise not_found("instance")
        return instance

    async def list(
        self, tenant_id: uuid.UUID, *, state: InstanceState | None, limit: int, offset: int
    ) -> list[Instance]:
        """The tenant's instances."""
        return await repository.list_for_tenant(
            self.pool, tenant_id, state=state.value if state else None, limit=limit, offset=offset
        )

    # --- state changes ---------------------------------------------------------------

    async def apply(
        self,
        instance_id: uuid.UUID,
        trigger: Trigger,
        *,
        correlation_id: uuid.UUID | None = None,
        status_code: int | None = None,
        qr: LifecycleQr | None = None,
        pairing: Pairing | None = None,
        only_if_legal: bool = False,
        asked_at: datetime | None = None,
    ) -> Outcome | None:
        """Apply a trigger in its own transaction; `only_if_legal` skips (None) a no-op or illegal one.

        `asked_at` (`database_now`) is when Evolution was asked what the trigger reports: a webhook
        report applied since is newer news, and the trigger is skipped (None).
        """
        # Skipping no-ops matters for status polling: a dashboard polling every few seconds
        # must not write the instance row each time.
        async with self.pool.acquire() as conn, conn.transaction():
            if only_if_legal:
                current = await repository.lock_state(conn, instance_id)
                if current is None or not plan(InstanceState(current), trigger).path:
                    return None
            if asked_at is not None and await report_applied_since(conn, instance_id, asked_at):
                log.info("refresh older than a webhook report, not applied", instance_id=str(instance_id))
                return None
            outcome = await apply_trigger(
                conn,
                instance_id=instance_id,
                trigger=trigger,
                outbox=self.outbox,
                correlation_id=correlation_id,
                status_code=status_code,
                qr=qr,
                pairing=pairing,
            )
        self.relay.notify(outcome.staged)
        return outcome

    # --- create ----------------------------------------------------------------------

    async def create(self, tenant_id: uuid.UUID, request: CreateInstance) -> Instance:
        """Create the instance at Evolution with Mirage's webhook, then `creating → open` (with a QR)."""
        if not INSTANCE_NAME.fullmatch(request.name):
            raise DomainError(
                ErrorKind.INVALID,
                "invalid_instance_name",
                "an instance name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        defaults = self.settings.instances
        new = NewInstance(
            tenant_id=tenant_id,
            name=request.name,
            integration=request.integration or defaults.integration,
            token=new_token(),
            webhook_auth=request.webhook_auth or defaults.webhook_auth,
            webhook_secret=new_webhook_secret(),
            persona_id=request.persona_id,
            reply_to_groups=request.reply_to_groups,
            reply_to_broadcasts=request.reply_to_broadcasts,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            if new.persona_id is not None and not await repository.persona_belongs_to(
                conn, tenant_id, new.persona_id
            ):
                raise not_found("persona")
            try:
                instance = await repository.insert_creating(conn, new)
            except NameTakenError:
                raise DomainError(
                    ErrorKind.CONFLICT, "instance_name_taken", f"an instance named {new.name!r} exists"
                ) from None
        return await self._create_at_evolution(instance, number=request.number)

    async def _create_at_evolution(self, instance: Instance, *, number: str | None = None) -> Instance:
        correlation = stable_id("instance-created", instance.id)
        try:
            created = await self.evolution.create_instance(
                instance.name,
                integration=instance.integration,  # type: ignore[arg-type]
                token=instance.token,
                # The QR is asked for once the instance is `open` in Mirage, so the
                # `qrcode.updated` webhook it causes never finds it still `creating`.
                qrcode=False,
                number=number,
                webhook=self.webhook_for(instance),
            )
        except EvolutionError as error:
            log.warning("evolution refused to create an instance", instance=instance.name, error=str(error))
            await self.apply(instance.id, Trigger.CREATION_FAILED, correlation_id=correlation)
            if isinstance(error, EvolutionOutcomeUnknownError):
                await self._forget_at_evolution(instance)
            raise domain_error_for(error, "create the instance") from error
        async with self.pool.acquire() as conn:
            await repository.record_evolution_identity(
                conn, instance.id, created.instance.instance_id, created.token
            )
        await self.apply(instance.id, Trigger.CREATED, correlation_id=correlation)
        refreshed = await self._reload(instance.id)
        try:
            await self.issue_qr(refreshed, number=number)
        except DomainError as error:
            # The instance exists; `GET /instances/{id}/qr` tries again.
            log.info("no first QR for a new instance", instance=instance.name, error=error.message)
        return await self._reload(instance.id)

    def webhook_for(self, instance: Instance) -> WebhookConfig:
        """Mirage's webhook for an instance, carrying the instance's own secret."""
        if instance.webhook_auth == "header":
            headers = {self.settings.instances.webhook_secret_header: instance.webhook_secret}
        else:
            # Evolution replaces `jwt_key` with `Authorization: Bearer <HS256 JWT>` on every call.
            headers = {"jwt_key": instance.webhook_secret}
        return WebhookConfig(
            url=self.settings.webhook_url(),
            headers=headers,
            events=self.settings.instances.webhook_events,
        )

    async def _forget_at_evolution(self, instance: Instance) -> None:
        try:
            await self.evolution.delete_instance(instance.name)
        except EvolutionError as error:
            log.info("could not clean up an instance at Evolution", instance=instance.name, error=str(error))

    async def _reload(self, instance_id: uuid.UUID) -> Instance:
        instance = await repository.get_any(self.pool, instance_id)
        if instance is None:  # pragma: no cover - rows are never deleted
            raise not_found("instance")
        return instance

    # --- QR and status ---------------------------------------------------------------

    async def qr(self, tenant_id: uuid.UUID, instance_id: uuid.UUID, *, number: str | None = None) -> QrView:
        """The QR to scan (from Evolution's `connect`), or `connected` when already paired."""
        instance = await self.get(tenant_id, instance_id)
        if instance.state == InstanceState.CONNECTED:
            return QrView(instance=instance, connected=True)
        if instance.state == InstanceState.CREATING:
            raise DomainError(ErrorKind.CONFLICT, "instance_not_ready", "the instance is still being created")
        return await self.issue_qr(instance, number=number)

    async def issue_qr(self, instance: Instance, *, number: str | None = None) -> QrView:
        """Ask Evolution for a QR and record it (`QR_ISSUED`), or record the pairing it reports."""
        try:
            answer = await self.evolution.connect(instance.name, number=number, token=instance.token)
        except EvolutionError as error:
            raise domain_error_for(error, "give a QR code") from error
        if isinstance(answer, ConnectionState):
            if answer.state == "open":
                await self.apply(instance.id, Trigger.EVOLUTION_OPEN, only_if_legal=True)
                refreshed = await self._reload(instance.id)
                return QrView(instance=refreshed, connected=refreshed.state == InstanceState.CONNECTED)
            return QrView(instance=instance, connected=False)
        return await self._record_qr(instance, answer)

    async def _record_qr(self, instance: Instance, qr: QrCode) -> QrView:
        now = datetime.now(UTC)
        same_qr = (
            instance.state == InstanceState.OPEN
            and qr.code is not None
            and qr.code == instance.qr_code
            and instance.qr_expires_at is not None
            and instance.qr_expires_at > now
        )
        if not same_qr:
            # A QR Mirage has not shown yet: its 2-minute lifetime starts now.
            outcome = await self.apply(
                instance.id,
                Trigger.QR_ISSUED,
                qr=LifecycleQr(code=qr.code, base64=qr.base64, pairing_code=qr.pairing_code),
            )
            assert outcome is not None
            if outcome.plan.refused:
                raise DomainError(
                    ErrorKind.CONFLICT,
                    "illegal_transition",
                    f"an instance in state {outcome.plan.current.value!r} cannot show a QR",
                )
            instance = await self._reload(instance.id)
            if instance.state == InstanceState.CONNECTED:
                return QrView(instance=instance, connected=True)
        return QrView(
            instance=instance,
            connected=False,
            code=instance.qr_code,
            data_url=instance.qr_base64,
            pairing_code=instance.pairing_code,
            expires_at=instance.qr_expires_at,
        )

    async def refresh_status(self, tenant_id: uuid.UUID, instance_id: uuid.UUID) -> StatusView:
        """Ask Evolution (`connectionState`) and apply what it says through the state machine."""
        instance = await self.get(tenant_id, instance_id)
        return await self._refresh(instance)

    async def _refresh(self, instance: Instance) -> StatusView:
        asked_at = await database_now(self.pool)
        try:
            answer = await self.evolution.connection_state(instance.name, token=instance.token)
        except EvolutionError as error:
            raise domain_error_for(error, "report the connection state") from error
        trigger = trigger_for_connection_update(answer.state, None)
        if trigger is not None:
            # A report that is no transition from the current state (Evolution says `close`
            # while a QR waits) is not news: it is neither applied nor logged as illegal. Nor is
            # an answer overtaken by a webhook report ingest applied while it was on its way.
            await self.apply(instance.id, trigger, only_if_legal=True, asked_at=asked_at)
        return StatusView(instance=await self._reload(instance.id), evolution_state=answer.state)

    # --- persona and removal -----------------------------------------------------------

    async def set_persona(
        self, tenant_id: uuid.UUID, instance_id: uuid.UUID, persona_id: uuid.UUID | None
    ) -> Instance:
        """Choose the persona that answers on this instance (None: the generator's default)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if persona_id is not None and not await repository.persona_belongs_to(
                conn, tenant_id, persona_id
            ):
                raise not_found("persona")
            if not await repository.set_persona(conn, tenant_id, instance_id, persona_id):
                raise not_found("instance")
        return await self.get(tenant_id, instance_id)

    async def delete(self, tenant_id: uuid.UUID, instance_id: uuid.UUID) -> Instance:
        """Close the instance, log it out and delete it at Evolution, then `closed → removed`."""
        instance = await self.get(tenant_id, instance_id)
        correlation = stable_id("instance-deleted", instance.id, instance.updated_at.isoformat())
        if InstanceState(instance.state) in _LIVE_STATES:
            await self.apply(instance.id, Trigger.OPERATOR_LOGOUT, correlation_id=correlation)
        if instance.state == InstanceState.CREATING:
            # A creation that never finished may still have reached Evolution.
            await self._forget_at_evolution(instance)
        else:
            try:
                await self.evolution.logout(instance.name, token=instance.token)
            except EvolutionRejectedError:
                pass  # already logged out (400) or unknown to Evolution (404)
            except EvolutionError as error:
                raise domain_error_for(error, "log the instance out") from error
            try:
                await self.evolution.delete_instance(instance.name, token=instance.token)
            except EvolutionNotFoundError:
                pass  # already gone at Evolution
            except EvolutionError as error:
                raise domain_error_for(error, "delete the instance") from error
        await self.apply(instance.id, Trigger.OPERATOR_REMOVE, correlation_id=correlation)
        return await self._reload(instance.id)

    # --- keeping an instance present at Evolution (demo seeding) ---------------------

    async def ensure_at_evolution(self, instance: Instance) -> str:
        """Evolution's state of the instance, re-creating it there (same token and webhook) if missing."""
        try:
            answer = await self.evolution.connection_state(instance.name, token=instance.token)
        except EvolutionNotFoundError:
            log.info("instance missing at Evolution; creating it again", instance=instance.name)
            try:
                created = await self.evolution.create_instance(
                    instance.name,
                    integration=instance.integration,  # type: ignore[arg-type]
                    token=instance.token,
                    qrcode=False,
                    webhook=self.webhook_for(instance),
                )
            except EvolutionError as error:
                raise domain_error_for(error, "create the instance again") from error
            async with self.pool.acquire() as conn:
                await repository.record_evolution_identity(
                    conn, instance.id, created.instance.instance_id, created.token
                )
            return created.instance.status or "close"
        except EvolutionError as error:
            raise domain_error_for(error, "report the connection state") from error
        return answer.state

    async def refresh(self, instance: Instance) -> StatusView:
        """`refresh_status` for an instance already loaded."""
        return await self._refresh(instance)
