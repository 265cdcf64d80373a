"""The instance state machine of PRODUCT §2, as pure data and one pure function.

States are `contracts.InstanceState`. A *trigger* is something that happened
(Evolution reported `open`, the operator deleted the instance, the QR timed
out). `plan` maps the current state and a trigger to the *path* of states the
instance walks through — usually one step, sometimes none (a repeated or
irrelevant report), sometimes two (Evolution reports `connecting` for a
connected number: it was lost, then reconnecting). Every step of every path is
an edge of `LEGAL_TRANSITIONS`; a trigger with no path from the current state
is refused and never applied.

Mapping from Evolution (evolution-api.md §4): its `open` means Mirage's
`connected` (Mirage's `open` means "created, QR waiting to be scanned");
`connecting` → `connecting`; `close` 401 → `disconnected`, a new QR is needed;
`close` 403 or `refused` → `disconnected` with sending stopped (likely banned);
other closes (402, 406) → `disconnected`.

One deliberate difference from the seed diagram: it draws `open → connecting`
when the QR is scanned, but Evolution reports `connecting` all the while a QR
waits, so that report cannot mean "scanned". A scan is recognised by the
`open` report that follows it, and the instance goes `open → connected`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from contracts import InstanceState

S = InstanceState


class Trigger(StrEnum):
    """What happened to an instance."""

    # Operator- and API-driven.
    CREATED = "created"  # Evolution answered 201 to /instance/create
    CREATION_FAILED = "creation_failed"
    QR_ISSUED = "qr_issued"  # a QR from /instance/connect or a `qrcode.updated` webhook
    QR_EXPIRED = "qr_expired"  # the QR was not scanned within 2 minutes
    OPERATOR_LOGOUT = "operator_logout"
    OPERATOR_REMOVE = "operator_remove"
    # Evolution-driven (`connection.update`, `connectionState`).
    EVOLUTION_OPEN = "evolution_open"
    EVOLUTION_CONNECTING = "evolution_connecting"
    EVOLUTION_LOGGED_OUT = "evolution_logged_out"  # close 401
    EVOLUTION_BANNED = "evolution_banned"  # close 403
    EVOLUTION_REFUSED = "evolution_refused"  # refused (QR limit reached / likely banned)
    EVOLUTION_CLOSED = "evolution_closed"  # any other close code


LEGAL_TRANSITIONS: Final[frozenset[tuple[InstanceState, InstanceState]]] = frozenset(
    {
        (S.CREATING, S.OPEN),
        (S.CREATING, S.CONNECTED),
        (S.CREATING, S.REMOVED),
        (S.OPEN, S.OPEN),  # a fresh QR replaces the previous one
        (S.OPEN, S.EXPIRED),
        (S.OPEN, S.CONNECTED),
        (S.OPEN, S.DISCONNECTED),
        (S.OPEN, S.CLOSED),
        (S.EXPIRED, S.OPEN),
        (S.EXPIRED, S.CONNECTED),
        (S.EXPIRED, S.DISCONNECTED),
        (S.EXPIRED, S.CLOSED),
        (S.CONNECTING, S.CONNECTED),
        (S.CONNECTING, S.OPEN),
        (S.CONNECTING, S.DISCONNECTED),
        (S.CONNECTING, S.CLOSED),
        (S.CONNECTED, S.DISCONNECTED),
        (S.CONNECTED, S.CLOSED),
        (S.DISCONNECTED, S.CONNECTING),
        (S.DISCONNECTED, S.OPEN),
        (S.DISCONNECTED, S.CLOSED),
        (S.CLOSED, S.OPEN),
        (S.CLOSED, S.REMOVED),
    }
)
"""Every edge an instance may take; nothing else is ever applied."""

_LIVE = (S.OPEN, S.EXPIRED, S.CONNECTING, S.CONNECTED, S.DISCONNECTED)

# For each trigger: the path from each state it applies to. States missing from
# a trigger's table refuse it; an empty path acknowledges it without a change.
_PATHS: Final[dict[Trigger, dict[InstanceState, tuple[InstanceState, ...]]]] = {
    Trigger.CREATED: {S.CREATING: (S.OPEN,)},
    Trigger.CREATION_FAILED: {S.CREATING: (S.REMOVED,)},
    Trigger.QR_ISSUED: {
        S.OPEN: (S.OPEN,),
        S.EXPIRED: (S.OPEN,),
        S.CONNECTING: (S.OPEN,),
        S.DISCONNECTED: (S.OPEN,),
        S.CLOSED: (S.OPEN,),
        S.CONNECTED: (),  # a stale QR for a number already paired
    },
    Trigger.QR_EXPIRED: {S.OPEN: (S.EXPIRED,), S.EXPIRED: ()},
    Trigger.OPERATOR_LOGOUT: {**dict.fromkeys(_LIVE, (S.CLOSED,)), S.CLOSED: ()},
    Trigger.OPERATOR_REMOVE: {
        **dict.fromkeys(_LIVE, (S.CLOSED, S.REMOVED)),
        S.CREATING: (S.REMOVED,),
        S.CLOSED: (S.REMOVED,),
        S.REMOVED: (),
    },
    Trigger.EVOLUTION_OPEN: {
        S.CREATING: (S.CONNECTED,),
        S.OPEN: (S.CONNECTED,),
        S.EXPIRED: (S.CONNECTED,),
        S.CONNECTING: (S.CONNECTED,),
        S.DISCONNECTED: (S.CONNECTING, S.CONNECTED),
        S.CONNECTED: (),
    },
    Trigger.EVOLUTION_CONNECTING: {
        # While a QR waits, Evolution itself reports `connecting`: not news.
        S.OPEN: (),
        S.EXPIRED: (),
        S.CONNECTING: (),
        S.CONNECTED: (S.DISCONNECTED, S.CONNECTING),
        S.DISCONNECTED: (S.CONNECTING,),
    },
    Trigger.EVOLUTION_LOGGED_OUT: {
        S.CONNECTED: (S.DISCONNECTED,),
        S.CONNECTING: (S.DISCONNECTED,),
        S.OPEN: (S.DISCONNECTED,),
        S.EXPIRED: (S.DISCONNECTED,),
        S.DISCONNECTED: (),
    },
    Trigger.EVOLUTION_CLOSED: {
        S.CONNECTED: (S.DISCONNECTED,),
        S.CONNECTING: (S.DISCONNECTED,),
        S.DISCONNECTED: (),
    },
}
_BANNED_PATHS: Final[dict[InstanceState, tuple[InstanceState, ...]]] = {
    S.CONNECTED: (S.DISCONNECTED,),
    S.CONNECTING: (S.DISCONNECTED,),
    S.OPEN: (S.DISCONNECTED,),
    S.EXPIRED: (S.DISCONNECTED,),
    S.DISCONNECTED: (),
}
_PATHS[Trigger.EVOLUTION_BANNED] = _BANNED_PATHS
_PATHS[Trigger.EVOLUTION_REFUSED] = _BANNED_PATHS

# Why each trigger happened, as the `reason` of the status change it causes.
REASONS: Final[dict[Trigger, str]] = {
    Trigger.CREATED: "created",
    Trigger.CREATION_FAILED: "creation_failed",
    Trigger.QR_ISSUED: "qr_issued",
    Trigger.QR_EXPIRED: "qr_expired",
    Trigger.OPERATOR_LOGOUT: "operator_logout",
    Trigger.OPERATOR_REMOVE: "operator_remove",
    Trigger.EVOLUTION_OPEN: "paired",
    Trigger.EVOLUTION_CONNECTING: "reconnecting",
    Trigger.EVOLUTION_LOGGED_OUT: "logged_out",
    Trigger.EVOLUTION_BANNED: "likely_banned",
    Trigger.EVOLUTION_REFUSED: "likely_banned",
    Trigger.EVOLUTION_CLOSED: "connection_lost",
}

# Triggers after which Mirage must stop sending from the number.
STOPS_SENDING: Final[frozenset[Trigger]] = frozenset({Trigger.EVOLUTION_BANNED, Trigger.EVOLUTION_REFUSED})
# Triggers after which sending may resume.
RESUMES_SENDING: Final[frozenset[Trigger]] = frozenset({Trigger.EVOLUTION_OPEN})


@dataclass(frozen=True)
class Plan:
    """What a trigger does to an instance in a given state."""

    current: InstanceState
    trigger: Trigger
    # None: refused (illegal from `current`); empty: acknowledged, nothing changes.
    path: tuple[InstanceState, ...] | None

    @property
    def refused(self) -> bool:
        """True when the trigger is illegal from `current`."""
        return self.path is None

    @property
    def target(self) -> InstanceState:
        """The state after the plan is applied."""
        return self.path[-1] if self.path else self.current


def plan(current: InstanceState, trigger: Trigger) -> Plan:
    """The path `trigger` takes from `current` (refused when there is none)."""
    path = _PATHS[trigger].get(current)
    return Plan(current=current, trigger=trigger, path=path)


def trigger_for_connection_update(state: str, status_reason: int | None) -> Trigger | None:
    """The trigger of an Evolution `connection.update` or `connectionState` report, if known."""
    match state:
        case "open":
            return Trigger.EVOLUTION_OPEN
        case "connecting":
            return Trigger.EVOLUTION_CONNECTING
        case "refused":
            return Trigger.EVOLUTION_REFUSED
        case "close":
            if status_reason == 401:
                return Trigger.EVOLUTION_LOGGED_OUT
            if status_reason == 403:
                return Trigger.EVOLUTION_BANNED
            return Trigger.EVOLUTION_CLOSED
    return None
