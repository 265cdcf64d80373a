"""Fault injection: failures, latency and dropped webhooks, set through `/_sim/faults`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EndpointName = Literal[
    "sendText", "sendPresence", "completions", "transcriptions", "getBase64FromMediaMessage"
]
# Shown by `GET /_sim/faults` always (the view's original shape).
CORE_ENDPOINTS: tuple[EndpointName, ...] = ("sendText", "sendPresence", "completions")
# Media endpoints (voice notes and images): shown only while set, so the view keeps its shape.
MEDIA_ENDPOINTS: tuple[EndpointName, ...] = ("transcriptions", "getBase64FromMediaMessage")
ENDPOINTS: tuple[EndpointName, ...] = CORE_ENDPOINTS + MEDIA_ENDPOINTS
_TARGETS = (
    "sendText, sendPresence, completions, transcriptions, getBase64FromMediaMessage, webhook, deliveries"
)


class EndpointFault(BaseModel):
    """Faults of one HTTP endpoint the simulator serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The next N calls fail with `status` (after the latency).
    fail_next: int = Field(default=0, ge=0)
    status: int = Field(default=500, ge=400, le=599)
    message: str = "Simulated failure (fault injection)"
    # Extra milliseconds before every answer.
    latency_ms: int = Field(default=0, ge=0)


class WebhookFault(BaseModel):
    """Faults of webhook delivery."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The next N deliveries are silently not sent.
    drop_next: int = Field(default=0, ge=0)
    # Extra milliseconds before every delivery attempt.
    latency_ms: int = Field(default=0, ge=0)


class DeliveryFault(BaseModel):
    """Messages between the simulator's own instances that WhatsApp silently never delivers.

    `drop_from` alone drops everything that instance sends to other instances; `to` alone
    everything sent to that instance; both: one direction of one pair. Neither: nothing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    drop_from: str | None = None
    to: str | None = None

    @property
    def active(self) -> bool:
        """True when some direction is dropped."""
        return self.drop_from is not None or self.to is not None

    def drops(self, sender: str, recipient: str) -> bool:
        """Whether a message from instance `sender` to instance `recipient` is lost."""
        if not self.active:
            return False
        return self.drop_from in (None, sender) and self.to in (None, recipient)


class FaultError(Exception):
    """A `/_sim/faults` body that names unknown targets or fields."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Faults:
    """The fault settings in force. Every method is synchronous: safe on one event loop."""

    def __init__(self) -> None:
        self.endpoints: dict[EndpointName, EndpointFault] = {}
        self.webhook = WebhookFault()
        self.deliveries = DeliveryFault()
        self.reset()

    def reset(self) -> None:
        """Back to no faults."""
        self.endpoints = {name: EndpointFault() for name in ENDPOINTS}
        self.webhook = WebhookFault()
        self.deliveries = DeliveryFault()

    def merge(self, body: Any) -> None:
        """Merge a partial update (`{"sendText": {"fail_next": 2}}`); `null` clears a target."""
        if not isinstance(body, dict):
            raise FaultError([f"the body must be an object keyed by {_TARGETS}"])
        problems: list[str] = []
        endpoints = dict(self.endpoints)
        webhook = self.webhook
        deliveries = self.deliveries
        for target, update in body.items():
            if update is not None and not isinstance(update, dict):
                problems.append(f"{target}: must be an object or null")
                continue
            try:
                if target in ENDPOINTS:
                    current = endpoints[target]
                    merged = {} if update is None else {**current.model_dump(), **update}
                    endpoints[target] = EndpointFault.model_validate(merged)
                elif target == "webhook":
                    merged = {} if update is None else {**webhook.model_dump(), **update}
                    webhook = WebhookFault.model_validate(merged)
                elif target == "deliveries":
                    merged = {} if update is None else {**deliveries.model_dump(), **update}
                    deliveries = DeliveryFault.model_validate(merged)
                else:
                    problems.append(f"unknown fault target {target!r} ({_TARGETS})")
            except ValidationError as error:
                problems.extend(
                    f"{target}.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
                    for item in error.errors()
                )
        if problems:
            raise FaultError(problems)
        # All or nothing: a body with one bad key changes no fault.
        self.endpoints = endpoints
        self.webhook = webhook
        self.deliveries = deliveries

    def snapshot(self) -> dict[str, Any]:
        """The faults in force, as `GET /_sim/faults` shows them."""
        view: dict[str, Any] = {name: self.endpoints[name].model_dump() for name in CORE_ENDPOINTS}
        view["webhook"] = self.webhook.model_dump()
        for name in MEDIA_ENDPOINTS:
            if self.endpoints[name] != EndpointFault():
                view[name] = self.endpoints[name].model_dump()
        # Shown only while set, so the view keeps its shape for clients that never use it.
        if self.deliveries.active:
            view["deliveries"] = self.deliveries.model_dump()
        return view

    def latency_s(self, target: EndpointName) -> float:
        """The injected latency of `target`, in seconds."""
        return self.endpoints[target].latency_ms / 1000

    def take_failure(self, target: EndpointName) -> EndpointFault | None:
        """Consume one pending failure of `target`, if any."""
        fault = self.endpoints[target]
        if fault.fail_next <= 0:
            return None
        self.endpoints[target] = fault.model_copy(update={"fail_next": fault.fail_next - 1})
        return fault

    def take_drop(self) -> bool:
        """Consume one pending webhook drop, if any."""
        if self.webhook.drop_next <= 0:
            return False
        self.webhook = self.webhook.model_copy(update={"drop_next": self.webhook.drop_next - 1})
        return True
