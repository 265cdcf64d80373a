"""The envelope every event and command travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# A fixed namespace so that ids derived from the same inputs are the same
# in every service and every run: the basis of idempotent re-publication.
MIRAGE_NAMESPACE = uuid.UUID("6f0f5e3a-52c4-4d8e-9a57-2b5d8c1a0e11")


def stable_id(*parts: object) -> uuid.UUID:
    """A deterministic UUID (v5) derived from `parts`."""
    return uuid.uuid5(MIRAGE_NAMESPACE, "\x1f".join(str(part) for part in parts))


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a timezone")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_require_aware)]


class Payload(BaseModel):
    """Base of every `data` model: frozen, tolerant of fields it does not know."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Envelope(BaseModel):
    """Fields shared by every message on every topic.

    Subclasses pin `type` to a `Literal` and `data` to their payload model;
    `type` is the discriminator of each topic's union.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    tenant_id: uuid.UUID
    # The id of the first event of a causal chain (for example the raw webhook),
    # carried unchanged by every event derived from it.
    correlation_id: uuid.UUID
    # The event that directly caused this one, when there is one.
    causation_id: uuid.UUID | None = None

    def to_json_bytes(self) -> bytes:
        """The wire form of this event."""
        return self.model_dump_json().encode()
