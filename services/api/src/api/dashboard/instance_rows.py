"""How an instance reads in the list: its state in plain words and the actions it allows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from api.instances.repository import Instance
from contracts import InstanceState

S = InstanceState
# Reasons (`instance_lifecycle.REASONS`) that change what a lost connection means.
_LOGGED_OUT = "logged_out"
_BANNED = "likely_banned"

_TONES = {
    S.CREATING: "neutral",
    S.OPEN: "info",
    S.EXPIRED: "warn",
    S.CONNECTING: "info",
    S.CONNECTED: "good",
    S.DISCONNECTED: "warn",
    S.CLOSED: "neutral",
    S.REMOVED: "neutral",
}
_EXPLANATIONS = {
    S.OPEN: "instances.explain.open",
    S.EXPIRED: "instances.explain.expired",
    S.CONNECTING: "instances.explain.connecting",
    S.CONNECTED: "instances.explain.connected",
    S.DISCONNECTED: "instances.explain.lost",
    S.CLOSED: "instances.explain.closed",
}
_SHOWS_QR = frozenset({S.OPEN, S.EXPIRED, S.DISCONNECTED, S.CLOSED})
_DISCONNECTABLE = frozenset({S.CONNECTED, S.CONNECTING, S.DISCONNECTED})


@dataclass(frozen=True)
class InstanceRow:
    """One row of the instances table."""

    id: uuid.UUID
    name: str
    profile_name: str | None
    number: str | None
    state: str
    tone: str
    label_key: str
    explain_key: str | None
    sending_stopped: bool
    can_show_qr: bool
    qr_label_key: str
    can_disconnect: bool


def number_of(owner_jid: str | None) -> str | None:
    """The phone digits of a JID (`5511999990001:12@s.whatsapp.net` → `5511999990001`)."""
    if not owner_jid:
        return None
    user = owner_jid.split("@", 1)[0].split(":", 1)[0]
    return user or None


def instance_row(instance: Instance) -> InstanceRow:
    """The row of `instance`."""
    state = InstanceState(instance.state)
    label_key = f"instances.state.{state.value}"
    explain_key = _EXPLANATIONS.get(state)
    tone = _TONES[state]
    if state == S.DISCONNECTED and (instance.sending_stopped or instance.state_reason == _BANNED):
        label_key, explain_key, tone = "instances.state.banned", "instances.explain.banned", "bad"
    elif state == S.DISCONNECTED and instance.state_reason == _LOGGED_OUT:
        label_key, explain_key = "instances.state.needs_qr", "instances.explain.needs_qr"
    return InstanceRow(
        id=instance.id,
        name=instance.name,
        profile_name=instance.profile_name,
        number=number_of(instance.owner_jid),
        state=state.value,
        tone=tone,
        label_key=label_key,
        explain_key=explain_key,
        sending_stopped=instance.sending_stopped,
        can_show_qr=state in _SHOWS_QR,
        qr_label_key="instances.action.qr" if state == S.OPEN else "instances.action.reconnect",
        can_disconnect=state in _DISCONNECTABLE,
    )
