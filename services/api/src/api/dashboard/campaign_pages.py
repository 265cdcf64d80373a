"""Campaign pages: the list, a new campaign from a CSV upload with the api's per-row report,
and a campaign's progress and targets with pause, resume and cancel.

Everything goes through the outreach api's own route functions (`api.outreach.routes`), so the
dashboard validates, refuses and reports exactly as `POST /outreach/campaigns` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from api.context import ApiContext
from api.dashboard.i18n import Translator, language_of
from api.dashboard.pages import _back, _checked_form, _forbidden, _not_found, _notice, _uuid, _viewer_or_login
from api.dashboard.rendering import formatter_for, render
from api.dashboard.uploads import (
    ParsedCsv,
    Upload,
    UploadError,
    parse_contacts_csv,
    parse_multipart,
    read_body,
    size_text,
    upload_limit,
)
from api.dashboard.viewer import CSRF_FIELD, Viewer, csrf_ok, same_origin
from api.dashboard.week_grid import DAYS, HOURS, windows_from_cells
from api.dependencies import Context
from api.domain_errors import DomainError
from api.instances.repository import Instance
from api.outreach import routes as outreach_routes
from api.outreach.routes import Action
from api.outreach.schemas import CampaignCreate, CampaignOut, TargetState

router = APIRouter(include_in_schema=False)

TARGET_STATES = ("queued", "rescheduled", "sending", "sent", "skipped", "failed")
STATE_TONES = {
    "running": "info",
    "paused": "warn",
    "cancelled": "neutral",
    "completed": "good",
    "queued": "neutral",
    "rescheduled": "warn",
    "sending": "info",
    "sent": "good",
    "skipped": "neutral",
    "failed": "bad",
}
ACTIONS = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}
ALLOWED_ACTIONS = {"running": ("pause", "cancel"), "paused": ("resume", "cancel")}
TARGETS_PER_PAGE = 100


@dataclass(frozen=True)
class Segment:
    """One state's share of a campaign's progress bar."""

    state: str
    count: int
    x: float
    width: float


def progress_segments(campaign: CampaignOut, width: float = 100.0) -> list[Segment]:
    """The progress bar: each target state's share of the accepted rows, left to right."""
    counts = campaign.counts.model_dump()
    total = sum(counts.values())
    segments: list[Segment] = []
    x = 0.0
    for state in ("sent", "skipped", "failed", "sending", "rescheduled", "queued"):
        count = int(counts.get(state, 0))
        if count and total:
            share = width * count / total
            segments.append(Segment(state=state, count=count, x=round(x, 3), width=round(share, 3)))
            x += share
    return segments


def done_share(campaign: CampaignOut) -> int:
    """Percent of the targets that reached a final state."""
    counts = campaign.counts
    total = sum(campaign.counts.model_dump().values())
    finished = counts.sent + counts.skipped + counts.failed
    return round(100 * finished / total) if total else 100


async def _instances(context: ApiContext, viewer: Viewer) -> list[Instance]:
    return await context.instances.list(viewer.tenant.id, state=None, limit=500, offset=0)


@router.get("/ui/campaigns")
async def campaigns_page(request: Request, context: Context) -> Response:
    """The tenant's campaigns, newest first, with their progress."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    found = await outreach_routes.list_campaigns(viewer.tenant, context.pool, limit=200, offset=0)
    return render(
        request,
        "campaigns.html",
        viewer=viewer,
        active="campaigns",
        values={
            "campaigns": found.items,
            "tones": STATE_TONES,
            "done_share": done_share,
            "notice": _notice(request, "campaign"),
        },
    )


def _empty_values() -> dict[str, Any]:
    return {
        "name": "",
        "instances": [],
        "template": "",
        "personalise": False,
        "cells": set(),
        "min_gap_s": "20",
        "max_gap_s": "60",
    }


async def _campaign_form(
    request: Request,
    context: ApiContext,
    viewer: Viewer,
    *,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    render_failures: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "campaign_new.html",
        viewer=viewer,
        active="campaigns",
        status_code=status_code,
        script_prefixes=("grid.",),
        values={
            "values": values,
            "errors": errors or {},
            "form_error": form_error,
            "render_failures": render_failures or [],
            "instances": await _instances(context, viewer),
            "days": DAYS,
            "hours": HOURS,
            "max_upload": upload_limit(context.settings.body_limit),
            "max_upload_text": size_text(upload_limit(context.settings.body_limit)),
        },
    )


@router.get("/ui/campaigns/new")
async def new_campaign_page(request: Request, context: Context) -> Response:
    """The form: a name, the numbers to send from, the template, the CSV, optional window and pacing."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    return await _campaign_form(request, context, viewer, values=_empty_values())


def _posted(upload: Upload) -> dict[str, Any]:
    return {
        "name": upload.get("name").strip(),
        "instances": [name for name in upload.all("instances") if name.strip()],
        "template": upload.get("template").replace("\r\n", "\n").strip(),
        "personalise": upload.get("personalise") == "on",
        "cells": set(upload.all("cell")),
        "min_gap_s": upload.get("min_gap_s").strip().replace(",", "."),
        "max_gap_s": upload.get("max_gap_s").strip().replace(",", "."),
    }


def _body(values: dict[str, Any], parsed: ParsedCsv) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": values["name"],
        "instances": values["instances"],
        "template": values["template"],
        "contacts": parsed.contacts,
        "personalise": values["personalise"],
    }
    windows = windows_from_cells(values["cells"])
    if windows:
        body["window"] = windows
    if values["min_gap_s"] or values["max_gap_s"]:
        body["pacing"] = {"min_gap_s": values["min_gap_s"] or "0", "max_gap_s": values["max_gap_s"] or "0"}
    return body


def _field_errors(error: ValidationError, t: Translator) -> tuple[dict[str, str], str]:
    found: dict[str, str] = {}
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        name = location[0] if location else "form"
        if name == "pacing":
            gap = location[1] if len(location) > 1 else ""
            name = gap if gap in {"min_gap_s", "max_gap_s"} else "max_gap_s"
        found.setdefault(name, t("campaign.field_error", message=item.get("msg", "")))
    if "contacts" in found:
        found["file"] = found.pop("contacts")
    return found, t("campaign.invalid")


@router.post("/ui/campaigns/new")
async def create_campaign(request: Request, context: Context) -> Response:
    """Create a campaign from the uploaded CSV through the outreach api's own route."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    t = Translator(language_of(request))
    try:
        upload = parse_multipart(
            request.headers.get("content-type", ""),
            await read_body(request, upload_limit(context.settings.body_limit)),
        )
    except UploadError as error:
        if not same_origin(request):
            return _forbidden()
        return await _campaign_form(
            request,
            context,
            viewer,
            values=_empty_values(),
            errors={"file": t(f"campaign.csv.{error.code}", **error.params)},
            form_error=t("campaign.invalid"),
            status_code=413 if error.code == "too_large" else 400,
        )
    if not same_origin(request) or not csrf_ok(viewer, upload.get(CSRF_FIELD) or None):
        return _forbidden()
    values = _posted(upload)
    name, data = upload.files.get("file", ("", b""))
    limit = upload_limit(context.settings.body_limit)
    try:
        if len(data) > limit:
            raise UploadError("too_large", size=size_text(limit))  # noqa: TRY301
        parsed = parse_contacts_csv(data) if name or data else None
    except UploadError as error:
        return await _campaign_form(
            request,
            context,
            viewer,
            values=values,
            errors={"file": t(f"campaign.csv.{error.code}", **error.params)},
            form_error=t("campaign.invalid"),
            status_code=413 if error.code == "too_large" else 422,
        )
    if parsed is None:
        return await _campaign_form(
            request,
            context,
            viewer,
            values=values,
            errors={"file": t("campaign.csv.missing")},
            form_error=t("campaign.invalid"),
            status_code=422,
        )
    try:
        body = CampaignCreate.model_validate(_body(values, parsed))
    except ValidationError as error:
        errors, message = _field_errors(error, t)
        return await _campaign_form(
            request, context, viewer, values=values, errors=errors, form_error=message, status_code=422
        )
    try:
        result = await outreach_routes.create_campaign(body, viewer.tenant, context.campaigns)
    except DomainError as error:
        failures = [
            {
                "row": item.get("row"),
                "line": _line(parsed, item.get("row")),
                "phone": _phone(parsed, item.get("row")),
                "error": item.get("error", ""),
            }
            for item in error.details or []
        ]
        key = f"campaign.error.{error.code}"
        message = t(key) if t.has(key) else error.message
        errors = {"instances": message} if error.code == "unknown_instance" else {}
        if error.code in {"template_invalid", "template_render_failed"}:
            errors = {"template": message}
        return await _campaign_form(
            request,
            context,
            viewer,
            values=values,
            errors=errors,
            form_error=message,
            render_failures=failures,
            status_code=422,
        )
    if isinstance(result, JSONResponse):  # 429: the day's quota is spent, nothing was created
        refusal = orjson.loads(bytes(result.body))
        when = formatter_for(t, viewer.tenant.time_zone)
        message = t(
            "campaign.error.daily_limit_reached",
            limit=refusal.get("limit"),
            used=refusal.get("used"),
            retry_at=when(datetime.fromisoformat(refusal["retry_at"])) if refusal.get("retry_at") else "—",
        )
        return await _campaign_form(
            request, context, viewer, values=values, form_error=message, status_code=429
        )
    rejected = [
        {"row": item.row, "line": _line(parsed, item.row), "phone": item.phone, "reason": item.reason}
        for item in result.report.rejected
    ]
    return render(
        request,
        "campaign_report.html",
        viewer=viewer,
        active="campaigns",
        status_code=201,
        values={
            "campaign_id": result.id,
            "name": body.name,
            "accepted": result.report.accepted,
            "rejected": rejected,
            "rows": len(parsed.contacts),
            "file_name": name,
        },
    )


def _line(parsed: ParsedCsv, row: object) -> int | None:
    return parsed.lines[row] if isinstance(row, int) and 0 <= row < len(parsed.lines) else None


def _phone(parsed: ParsedCsv, row: object) -> str:
    if isinstance(row, int) and 0 <= row < len(parsed.contacts):
        return str(parsed.contacts[row].get("phone", ""))
    return ""


async def _campaign(context: ApiContext, viewer: Viewer, campaign_id: str) -> CampaignOut | None:
    key = _uuid(campaign_id)
    if key is None:
        return None
    try:
        return await outreach_routes.get_campaign(key, viewer.tenant, context.campaigns)
    except DomainError:
        return None


@router.get("/ui/campaigns/{campaign_id}")
async def campaign_page(campaign_id: str, request: Request, context: Context) -> Response:
    """A campaign: progress by target state, the targets (filtered by state), pause/resume/cancel."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    campaign = await _campaign(context, viewer, campaign_id)
    if campaign is None:
        return _not_found(request, viewer, "campaign")
    state = request.query_params.get("state") or None
    state = state if state in TARGET_STATES else None
    offset_text = request.query_params.get("offset", "0")
    offset = min(int(offset_text), 1_000_000) if offset_text.isdigit() else 0
    targets = await outreach_routes.list_targets(
        campaign.id,
        viewer.tenant,
        context.campaigns,
        context.pool,
        state=cast(TargetState | None, state),
        limit=TARGETS_PER_PAGE,
        offset=offset,
    )
    return render(
        request,
        "campaign.html",
        viewer=viewer,
        active="campaigns",
        values={
            "campaign": campaign,
            "counts": campaign.counts.model_dump(),
            "segments": progress_segments(campaign),
            "done_share": done_share(campaign),
            "targets": targets,
            "filter_state": state,
            "target_states": TARGET_STATES,
            "tones": STATE_TONES,
            "actions": ALLOWED_ACTIONS.get(campaign.state, ()),
            "page_size": TARGETS_PER_PAGE,
            "notice": _notice(request, "campaign"),
        },
    )


@router.post("/ui/campaigns/{campaign_id}/{action}")
async def campaign_action(campaign_id: str, action: str, request: Request, context: Context) -> Response:
    """Pause, resume or cancel through the outreach api's own route (409 shown in words)."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    if await _checked_form(request, viewer) is None:
        return _forbidden()
    key = _uuid(campaign_id)
    if action not in ACTIONS or key is None:
        return _not_found(request, viewer, "campaign")
    try:
        await outreach_routes.steer_campaign(key, cast(Action, action), viewer.tenant, context.campaigns)
    except DomainError as error:
        if error.code == "campaign_not_found":
            return _not_found(request, viewer, "campaign")
        return _back(f"/ui/campaigns/{key}", "conflict")
    return _back(f"/ui/campaigns/{key}", ACTIONS[action])
