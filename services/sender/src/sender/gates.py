"""The sender's gates: the last place a send can be refused before it reaches WhatsApp."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts import InstanceState, SendPurpose


class RefusalReason(StrEnum):
    """Why the sender refused a send (stored as `sends.failure_code`)."""

    INSTANCE_NOT_FOUND = "instance_not_found"
    INSTANCE_SENDING_STOPPED = "instance_sending_stopped"
    OPTED_OUT = "opted_out"
    BLACKLISTED = "blacklisted"
    # The contact's personal data was erased (LGPD art. 18): never contacted again.
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class InstanceAccess:
    """What a send needs to reach an instance at Evolution API."""

    name: str
    # The instance token (used as `apikey`), when Mirage stored one.
    token: str | None

    def __repr__(self) -> str:
        return f"InstanceAccess(name={self.name!r}, token={'set' if self.token else None})"


@dataclass(frozen=True)
class RecipientFacts:
    """What the database says about the sending instance and the recipient, read in one query."""

    # None when the instance does not exist for this tenant.
    instance: InstanceAccess | None
    instance_state: InstanceState | None
    sending_stopped: bool
    opted_out: bool
    blacklisted: bool
    suppressed: bool = False


@dataclass(frozen=True)
class Refusal:
    """A gate's verdict: this send must not go out."""

    reason: RefusalReason
    detail: str


def check_gates(purpose: SendPurpose, facts: RecipientFacts) -> Refusal | None:
    """The refusal that applies to a send, or None when it may go out.

    Instance gates apply to every send. Contact gates (opt-out, blacklist) apply to
    every send but the opt-out confirmation: the one message that tells a person
    who just opted out that they will hear nothing more.
    """
    if facts.instance is None or facts.instance_state is InstanceState.REMOVED:
        return Refusal(RefusalReason.INSTANCE_NOT_FOUND, "the sending instance does not exist")
    if facts.sending_stopped:
        return Refusal(
            RefusalReason.INSTANCE_SENDING_STOPPED,
            "sending is stopped on this instance (likely banned)",
        )
    if purpose is SendPurpose.OPT_OUT_CONFIRMATION:
        return None
    if facts.opted_out:
        return Refusal(RefusalReason.OPTED_OUT, "the contact opted out")
    if facts.blacklisted:
        return Refusal(RefusalReason.BLACKLISTED, "the number is blacklisted")
    if facts.suppressed:
        return Refusal(RefusalReason.SUPPRESSED, "the contact was erased and is never contacted again")
    return None
