"""Outreach campaign commands."""

from __future__ import annotations

import uuid
from typing import Literal

from contracts._envelope import AwareDatetime, Envelope, Payload


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
