"""Warm-up pair pages: the list, create and edit with the weekly-grid editor, and a pair's page
with its rounds timeline, skips, deaf alerts and pause / resume / tick.

Everything goes through the warm-up api's own route functions (`api.warmup.routes`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.alerts import repository as alerts
from api.alerts.repository import AlertFilter
from api.context import ApiContext
from api.dashboard.forms import form_values
from api.dashboard.i18n import Translator, language_of
from api.dashboard.pages import _back, _forbidden, _not_found, _uuid, _viewer_or_login
from api.dashboard.rendering import SECURITY_HEADERS, render
from api.dashboard.viewer import CSRF_FIELD, Viewer, csrf_ok, same_origin
from api.dashboard.week_grid import DAYS, HOURS, cells_from_windows, parse_cells, windows_from_cells
from api.dependencies import Context
from api.domain_errors import DomainError
from api.errors import ApiError
from api.personas import repository as personas
from api.warmup import repository as warmup_repository
from api.warmup import routes as warmup_routes
from api.warmup.schemas import PairCreate, PairOut, PairUpdate

router = APIRouter(include_in_schema=False)

PROFILES = ("soft", "normal", "aggressive")
STATUS_TONES = {"active": "good", "paused": "warn", "quarantined": "bad"}
ROUND_TONES = {
    "started": "info",
    "completed": "good",
    "timed_out": "warn",
    "deaf": "bad",
    "aborted": "neutral",
}
ACTIONS = ("pause", "resume", "tick", "delete")
DEAF_CAUSE = "warmup_deaf"


def _first(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name)
    return found[-1].strip() if found else ""


def _optional_int(text: str) -> str | None:
    return text or None


def _form_values(pair: PairOut | None, time_zone: str) -> dict[str, Any]:
    if pair is None:
        return {
            "name": "",
            "instance_a": "",
            "instance_b": "",
            "persona_a": "",
            "persona_b": "",
            "time_zone": time_zone,
            "cells": set(),
            "exact": True,
            "min_gap_minutes": "30",
            "turns_min": "2",
            "turns_max": "6",
            "profile": "normal",
            "max_rounds_per_day": "",
        }
    grid = cells_from_windows(pair.windows)
    return {
        "name": pair.name,
        "instance_a": pair.instance_a.name,
        "instance_b": pair.instance_b.name,
        "persona_a": str(pair.persona_a or ""),
        "persona_b": str(pair.persona_b or ""),
        "time_zone": pair.time_zone,
        "cells": set(grid.cells),
        "exact": grid.exact,
        "min_gap_minutes": str(round(pair.min_gap_minutes)),
        "turns_min": str(pair.turns.min),
        "turns_max": str(pair.turns.max),
        "profile": pair.profile,
        "max_rounds_per_day": "",
    }


def _posted(values: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "name": _first(values, "name"),
        "instance_a": _first(values, "instance_a"),
        "instance_b": _first(values, "instance_b"),
        "persona_a": _first(values, "persona_a"),
        "persona_b": _first(values, "persona_b"),
        "time_zone": _first(values, "time_zone"),
        "cells": {cell for cell in values.get("cell", []) if cell},
        "exact": True,
        "min_gap_minutes": _first(values, "min_gap_minutes"),
        "turns_min": _first(values, "turns_min"),
        "turns_max": _first(values, "turns_max"),
        "profile": _first(values, "profile"),
        "max_rounds_per_day": _first(values, "max_rounds_per_day"),
    }


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    """The api body's settings from the posted form (blank fields take the api's defaults)."""
    body: dict[str, Any] = {
        "name": values["name"] or None,
        "persona_a": values["persona_a"] or None,
        "persona_b": values["persona_b"] or None,
        "time_zone": values["time_zone"] or None,
        "windows": windows_from_cells(values["cells"]),
        "min_gap_minutes": _optional_int(values["min_gap_minutes"]),
        "turns": {"min": values["turns_min"] or 2, "max": values["turns_max"] or 6},
        "profile": values["profile"] or None,
        "max_rounds_per_day": _optional_int(values["max_rounds_per_day"]),
    }
    return body


def _field_errors(error: ValidationError, t: Translator) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        name = location[0] if location else "form"
        if name == "turns":
            name = "turns_max" if "max" in location else "turns_min"
        found.setdefault(name, t("warmup.field_error", message=item.get("msg", "")))
    return found


async def _form(
    request: Request,
    context: ApiContext,
    viewer: Viewer,
    *,
    pair: PairOut | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    t = Translator(language_of(request))
    instances = await context.instances.list(viewer.tenant.id, state=None, limit=500, offset=0)
    found_personas = await personas.list_for_tenant(context.pool, viewer.tenant.id, limit=500, offset=0)
    return render(
        request,
        "warmup_form.html",
        viewer=viewer,
        active="warmup",
        status_code=status_code,
        script_prefixes=("grid.",),
        values={
            "pair": pair,
            "heading": t("warmup.edit_title", name=pair.name) if pair else t("warmup.new_title"),
            "action": f"/ui/warmup/{pair.id}/edit" if pair else "/ui/warmup/new",
            "values": values,
            "errors": errors or {},
            "form_error": form_error,
            "instances": instances,
            "personas": found_personas,
            "profiles": PROFILES,
            "days": DAYS,
            "hours": HOURS,
        },
    )


async def _checked_values(request: Request, viewer: Viewer) -> dict[str, list[str]] | None:
    values = await form_values(request)
    presented = values.get(CSRF_FIELD, [""])[-1]
    if not same_origin(request) or not csrf_ok(viewer, presented):
        return None
    return values


def _domain_message(error: DomainError, t: Translator) -> tuple[dict[str, str], str, int]:
    key = f"warmup.error.{error.code}"
    message = t(key) if t.has(key) else error.message
    field = {
        "unknown_instance": "instance_b",
        "same_instance": "instance_b",
        "warmup_pair_exists": "instance_b",
        "unknown_persona": "persona_a",
    }.get(error.code)
    return ({field: message} if field else {}), message, 409 if error.code == "warmup_pair_exists" else 422


BodyT = TypeVar("BodyT", bound=BaseModel)


async def _save(
    request: Request,
    context: ApiContext,
    viewer: Viewer,
    *,
    pair: PairOut | None,
    values: dict[str, Any],
    body: Callable[[], BodyT],
    save: Callable[[BodyT], Awaitable[uuid.UUID]],
    done: str,
) -> Response:
    """Validate the posted form (`body`) and save it through the warm-up api (`save`, the saved
    pair's id), back to the pair with `done`; the form again, with its errors, when either refuses."""
    t = Translator(language_of(request))
    try:
        validated = body()
    except ValidationError as error:
        errors, message, status = _field_errors(error, t), t("warmup.invalid"), 422
    else:
        try:
            saved = await save(validated)
        except DomainError as error:
            errors, message, status = _domain_message(error, t)
        else:
            return _back(f"/ui/warmup/{saved}", done)
    return await _form(
        request,
        context,
        viewer,
        pair=pair,
        values=values,
        errors=errors,
        form_error=message,
        status_code=status,
    )


@router.get("/ui/warmup")
async def pairs_page(request: Request, context: Context) -> Response:
    """The tenant's warm-up pairs."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    found = await warmup_routes.list_pairs(viewer.tenant, context.pool, limit=500, offset=0)
    return render(
        request,
        "warmup_pairs.html",
        viewer=viewer,
        active="warmup",
        values={"pairs": found.items, "tones": STATUS_TONES, "notice": _pair_notice(request)},
    )


@router.get("/ui/warmup/new")
async def new_pair_page(request: Request, context: Context) -> Response:
    """The form for a new pair."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    return await _form(
        request, context, viewer, pair=None, values=_form_values(None, viewer.tenant.time_zone)
    )


@router.post("/ui/warmup/new")
async def create_pair(request: Request, context: Context) -> Response:
    """Create a pair through the warm-up api's own route."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    fields = await _checked_values(request, viewer)
    if fields is None:
        return _forbidden()
    values = _posted(fields)

    async def create(body: PairCreate) -> uuid.UUID:
        return (await warmup_routes.create_pair(body, viewer.tenant, context.pool)).id

    return await _save(
        request,
        context,
        viewer,
        pair=None,
        values=values,
        body=lambda: PairCreate.model_validate(
            {**_settings(values), "instance_a": values["instance_a"], "instance_b": values["instance_b"]}
        ),
        save=create,
        done="created",
    )


async def _pair(context: ApiContext, viewer: Viewer, pair_id: str) -> PairOut | None:
    key = _uuid(pair_id)
    if key is None:
        return None
    try:
        return await warmup_routes.get_pair(key, viewer.tenant, context.pool)
    except DomainError:
        return None


@router.get("/ui/warmup/{pair_id}/edit")
async def edit_pair_page(pair_id: str, request: Request, context: Context) -> Response:
    """Edit a pair's settings and windows (its two numbers stay)."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    pair = await _pair(context, viewer, pair_id)
    if pair is None:
        return _not_found(request, viewer, "warmup_pair")
    values = _form_values(pair, pair.time_zone)
    # Empty unless the pair has its own cap (the effective one may be the profile's).
    stored = await warmup_repository.get_pair(context.pool, viewer.tenant.id, pair.id)
    own = stored.max_rounds_per_day if stored is not None else None
    values["max_rounds_per_day"] = "" if own is None else str(own)
    return await _form(request, context, viewer, pair=pair, values=values)


@router.post("/ui/warmup/{pair_id}/edit")
async def update_pair(pair_id: str, request: Request, context: Context) -> Response:
    """Save a pair's changes through the warm-up api's own route."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    pair = await _pair(context, viewer, pair_id)
    if pair is None:
        return _not_found(request, viewer, "warmup_pair")
    fields = await _checked_values(request, viewer)
    if fields is None:
        return _forbidden()
    values = {**_posted(fields), "instance_a": pair.instance_a.name, "instance_b": pair.instance_b.name}
    settings = _settings(values)
    # Windows with minutes the grid cannot show stay as they are unless a cell was changed.
    stored = cells_from_windows(pair.windows)
    if not stored.exact and parse_cells(values["cells"]) == parse_cells(stored.cells):
        settings["windows"] = None
    edited = pair

    async def update(body: PairUpdate) -> uuid.UUID:
        await warmup_routes.update_pair(edited.id, body, viewer.tenant, context.pool)
        return edited.id

    return await _save(
        request,
        context,
        viewer,
        pair=pair,
        values=values,
        body=lambda: PairUpdate.model_validate(settings),
        save=update,
        done="saved",
    )


def _pair_notice(request: Request) -> str | None:
    t = Translator(language_of(request))
    done = request.query_params.get("done")
    if done == "tick_skipped":
        reason = request.query_params.get("reason", "")
        words = t(f"warmup.skip.{reason}") if t.has(f"warmup.skip.{reason}") else reason
        detail = request.query_params.get("detail", "")[:300]
        return t("warmup.done.tick_skipped", reason=words) + (f" ({detail})" if detail else "")
    key = f"warmup.done.{done}"
    return t(key) if done and t.has(key) else None


@router.get("/ui/warmup/{pair_id}")
async def pair_page(pair_id: str, request: Request, context: Context) -> Response:
    """A pair: its numbers and ramp, the rounds timeline, the skips and deaf alerts."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    pair = await _pair(context, viewer, pair_id)
    if pair is None:
        return _not_found(request, viewer, "warmup_pair")
    t = Translator(language_of(request))
    rounds = await warmup_routes.list_rounds(pair.id, viewer.tenant, context.pool, limit=20, offset=0)
    skips = await warmup_routes.list_skips(pair.id, viewer.tenant, context.pool, limit=20)
    open_alerts = await alerts.list_for_tenant(
        context.pool,
        viewer.tenant.id,
        AlertFilter(cause=DEAF_CAUSE, acknowledged=False),
        limit=50,
        offset=0,
    )
    deaf_alerts = [alert for alert in open_alerts if str(pair.id) in alert.alert_key]
    persona_names = {
        persona.id: persona.name
        for persona in await personas.list_for_tenant(context.pool, viewer.tenant.id, limit=500, offset=0)
    }
    return render(
        request,
        "warmup_pair.html",
        viewer=viewer,
        active="warmup",
        values={
            "pair": pair,
            "rounds": rounds.items,
            "skips": skips.items,
            "deaf_alerts": deaf_alerts,
            "deaf_rounds": [item for item in rounds.items if item.state == "deaf"],
            "tones": STATUS_TONES,
            "round_tones": ROUND_TONES,
            "persona_names": persona_names,
            "windows_text": [_window_text(window, t) for window in pair.windows],
            "notice": _pair_notice(request),
        },
    )


def _window_text(window: dict[str, Any], t: Translator) -> str:
    days = ", ".join(t(f"day.short.{day}") for day in window.get("days", []) if day in DAYS)
    return t("warmup.window", days=days, start=window.get("start", ""), end=window.get("end", ""))


@router.post("/ui/warmup/{pair_id}/{action}")
async def pair_action(pair_id: str, action: str, request: Request, context: Context) -> Response:
    """Pause, resume, tick (the scheduler's decision now) or delete, through the api's own routes."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    if await _checked_values(request, viewer) is None:
        return _forbidden()
    key = _uuid(pair_id)
    if action not in ACTIONS or key is None:
        return _not_found(request, viewer, "warmup_pair")
    path = f"/ui/warmup/{key}"
    try:
        if action == "pause":
            await warmup_routes.pause_pair(key, viewer.tenant, context.pool)
        elif action == "resume":
            await warmup_routes.resume_pair(key, viewer.tenant, context.pool)
        elif action == "delete":
            await warmup_routes.delete_pair(key, viewer.tenant, context.pool)
            return _back("/ui/warmup", "deleted")
        else:
            tick = await warmup_routes.tick_pair(
                key, viewer.tenant, context.pool, warmup_routes._scheduler(request)
            )
            if tick.decision == "started":
                return _back(path, "tick_started")
            query = urlencode({"done": "tick_skipped", "reason": tick.reason or "", "detail": tick.detail})
            return RedirectResponse(f"{path}?{query}", status_code=303, headers=SECURITY_HEADERS)
    except DomainError:
        return _not_found(request, viewer, "warmup_pair")
    except ApiError as error:
        if error.code == "scheduler_unavailable":
            return _back(path, "scheduler_unavailable")
        raise
    return _back(path, {"pause": "paused", "resume": "resumed"}[action])
