"""What the guard knows when it judges a message: loaded by the repository, read by the rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class OperatorControls:
    """The operator's overrides for one conversation (`conversation_controls`, written by api)."""

    bot_paused: bool = False
    resumed_at: datetime | None = None
    unblocked_at: datetime | None = None


@dataclass(frozen=True)
class GuardState:
    """The guard's own state of one conversation (`conversation_guard_state`)."""

    paused_at: datetime | None = None
    paused_until: datetime | None = None
    pause_reason: str | None = None
    blocked_at: datetime | None = None
    block_reason: str | None = None
    last_script_id: str | None = None
    loop_count: int = 0


@dataclass(frozen=True)
class ConversationState:
    """A conversation's guard state as a decision read it, and the database's `now()`, the
    clock the operator's controls were written with.

    Read in the decision's transaction, the row is locked until COMMIT. Read for a decision
    recorded in one statement (no transaction), it is not locked: `version` is the row's
    `xmin` (None when the row did not exist), and the statement that records the decision
    checks it again under a lock, so a change committed in between is never decided past.
    """

    state: GuardState
    now: datetime
    version: str | None = None


@dataclass(frozen=True)
class ContactStanding:
    """Whether the contact may be answered at all."""

    opted_out: bool = False
    blacklisted: bool = False


@dataclass(frozen=True)
class MessageFacts:
    """Everything about one message the rules need, read in one round trip."""

    message_stored: bool
    already_decided: bool
    stored_origin: str | None = None
    # Its provider id is in the sender's registry (`sends.provider_message_id`, any instance).
    sent_by_mirage: bool = False
    # The other side of the chat is one of Mirage's own numbers.
    from_own_number: bool = False
    # `fromMe` and equal to a recent send of this instance to this chat whose id is not known yet.
    echo_of_send_in_flight: bool = False
    reply_to_groups: bool = False
    reply_to_broadcasts: bool = False
    opt_out_keywords: tuple[str, ...] = ()
    opt_in_keywords: tuple[str, ...] = ()
    contact_jid: str | None = None
    # Digits of the contact's phone, when known.
    contact_phone: str | None = None
    standing: ContactStanding = field(default_factory=ContactStanding)
    controls: OperatorControls = field(default_factory=OperatorControls)
    # Read with the facts when the message may be answered (None: lock it before deciding).
    state: ConversationState | None = None
