"""Outreach campaign commands."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from contracts._envelope import AwareDatetime, Envelope, Payload
from contracts._messages import SendTextData


class RequestOutreachData(Payload):
    """One campaign target to contact once its quotas allow."""

    campaign_id: uuid.UUID
    target_id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    to: str
    text: str
    not_before: AwareDatetime | None = None
    attempt: int = 0


class RequestOutreach(Envelope):
    """Command: contact one campaign target (topic `outreach.requested`)."""

    type: Literal["outreach.requested"] = "outreach.requested"
    data: RequestOutreachData


class PersonaliseMessageData(Payload):
    """A campaign message the outreach worker admitted under its quotas, to be rewritten in the
    sending number's persona before it goes out (campaigns created with `personalise`)."""

    # The send as it goes out if the rewrite fails: the template rendered for this contact.
    send: SendTextData
    template: str
    variables: dict[str, Any] = Field(default_factory=dict)


class RequestPersonalisation(Envelope):
    """Command: rewrite one campaign message, then send it (topic `personalise.requested`)."""

    type: Literal["personalise.requested"] = "personalise.requested"
    data: PersonaliseMessageData
