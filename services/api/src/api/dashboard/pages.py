"""The dashboard's pages, rendered on the server; their forms post back here."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.alerts import repository as alerts
from api.alerts.repository import AlertFilter
from api.context import ApiContext
from api.conversations import repository as conversations
from api.conversations import routes as conversation_routes
from api.conversations.repository import ConversationFilter
from api.dashboard.forms import form_fields
from api.dashboard.i18n import Translator, language_of
from api.dashboard.instance_rows import instance_row
from api.dashboard.persona_media import error_field, posted_media_replies, rows_from_form, rows_from_stored
from api.dashboard.rendering import SECURITY_HEADERS, formatter_for, render
from api.dashboard.signin import to_login
from api.dashboard.thread import contact_label, conversation_tone, message_view, state_explanation
from api.dashboard.viewer import (
    CSRF_FIELD,
    SessionsUnavailableError,
    Viewer,
    csrf_ok,
    find_viewer,
    same_origin,
)
from api.dependencies import Context
from api.domain_errors import DomainError
from api.personas import repository as personas
from api.personas import routes as persona_routes
from api.personas.repository import Persona
from api.personas.schemas import DEFAULT_SYSTEM_PROMPT, PersonaCreate, PersonaUpdate

router = APIRouter(include_in_schema=False)

_CONVERSATION_ACTIONS: dict[str, Callable[..., Awaitable[Any]]] = {
    "pause": conversation_routes.pause_bot,
    "resume": conversation_routes.resume_bot,
    "unblock": conversation_routes.unblock,
}
_CONVERSATION_STATES = ("active", "paused", "blocked")


async def _viewer_or_login(request: Request, context: ApiContext) -> Viewer | Response:
    try:
        viewer = await find_viewer(request, context)
    except SessionsUnavailableError:
        t = Translator(language_of(request))
        return render(
            request,
            "error.html",
            viewer=None,
            status_code=503,
            values={"heading": t("error.unavailable_title"), "message": t("login.unavailable")},
        )
    return viewer if viewer is not None else to_login(request)


async def _checked_form(request: Request, viewer: Viewer) -> dict[str, str] | None:
    """The posted form, or None when it is cross-site or lacks the session's CSRF token."""
    fields = await form_fields(request)
    if not same_origin(request) or not csrf_ok(viewer, fields.get(CSRF_FIELD)):
        return None
    return fields


def _forbidden() -> Response:
    return Response("forbidden", status_code=403, headers=SECURITY_HEADERS, media_type="text/plain")


def _not_found(request: Request, viewer: Viewer, what: str) -> Response:
    t = Translator(language_of(request))
    return render(
        request,
        "error.html",
        viewer=viewer,
        status_code=404,
        values={"heading": t("error.not_found_title"), "message": t(f"error.{what}_not_found")},
    )


def _back(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={done}", status_code=303, headers=SECURITY_HEADERS)


def _notice(request: Request, prefix: str) -> str | None:
    done = request.query_params.get("done")
    t = Translator(language_of(request))
    key = f"{prefix}.done.{done}"
    return t(key) if done and t.has(key) else None


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# --- instances -------------------------------------------------------------------------------


@router.get("/")
async def instances_page(request: Request, context: Context) -> Response:
    """The instances and their live status; creating, pairing and removing them."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    found = await context.instances.list(viewer.tenant.id, state=None, limit=500, offset=0)
    return render(
        request,
        "instances.html",
        viewer=viewer,
        active="instances",
        script_prefixes=("instances.", "create.", "qr.", "confirm."),
        values={"instances": [instance_row(item) for item in found]},
    )


# --- conversations ---------------------------------------------------------------------------


@router.get("/ui/conversations")
async def conversations_page(request: Request, context: Context) -> Response:
    """The tenant's conversations, most recent first, filtered by state and instance."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    state = request.query_params.get("state") or None
    state = state if state in _CONVERSATION_STATES else None
    instance_id = _uuid(request.query_params.get("instance_id"))
    found = await conversations.list_for_tenant(
        context.pool,
        viewer.tenant.id,
        ConversationFilter(instance_id=instance_id, state=state),
        limit=200,
        offset=0,
    )
    instances = await context.instances.list(viewer.tenant.id, state=None, limit=500, offset=0)
    return render(
        request,
        "conversations.html",
        viewer=viewer,
        active="conversations",
        values={
            "conversations": found,
            "instances": instances,
            "filters": {"state": state, "instance_id": str(instance_id) if instance_id else ""},
            "contact_label": contact_label,
            "conversation_tone": conversation_tone,
        },
    )


@router.get("/ui/conversations/{conversation_id}")
async def conversation_page(conversation_id: str, request: Request, context: Context) -> Response:
    """One conversation: every message with the guard's decision, and the operator's controls."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    key = _uuid(conversation_id)
    conversation = await conversations.get(context.pool, viewer.tenant.id, key) if key else None
    if conversation is None:
        return _not_found(request, viewer, "conversation")
    t = Translator(language_of(request))
    when = formatter_for(t, viewer.tenant.time_zone)
    contact = contact_label(conversation)
    found = await conversations.messages(context.pool, conversation.id, before=None, limit=200)
    return render(
        request,
        "conversation.html",
        viewer=viewer,
        active="conversations",
        values={
            "conversation": conversation,
            "messages": [message_view(message, t, contact) for message in found],
            "state_explanation": state_explanation(conversation, t, when),
            "contact_label": contact_label,
            "conversation_tone": conversation_tone,
            "notice": _notice(request, "conversation"),
        },
    )


@router.post("/ui/conversations/{conversation_id}/{action}")
async def conversation_action(
    conversation_id: str, action: str, request: Request, context: Context
) -> Response:
    """Pause (take over), resume or unblock, through the conversation API's own routes."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    if await _checked_form(request, viewer) is None:
        return _forbidden()
    act = _CONVERSATION_ACTIONS.get(action)
    key = _uuid(conversation_id)
    if act is None or key is None:
        return _not_found(request, viewer, "conversation")
    try:
        await act(key, viewer.tenant, context.pool)
    except DomainError:
        return _not_found(request, viewer, "conversation")
    done = {"pause": "paused", "resume": "resumed", "unblock": "unblocked"}[action]
    return _back(f"/ui/conversations/{key}", done)


# --- personas --------------------------------------------------------------------------------


def _persona_values(persona: Persona | None) -> dict[str, Any]:
    if persona is None:
        defaults = PersonaCreate(name="x")
        return {
            **defaults.model_dump(),
            "name": "",
            "system_prompt": DEFAULT_SYSTEM_PROMPT,
            "model": "",
            "media": rows_from_stored({}),
        }
    return {
        "name": persona.name,
        "system_prompt": persona.system_prompt,
        "language": persona.language,
        "max_length": persona.max_length,
        "emoji": persona.emoji,
        # Stored as a float4: 0.7 reads back as 0.699999988…
        "temperature": round(persona.temperature, 2),
        "model": persona.model or "",
        "media": rows_from_stored(persona.media_replies),
    }


def _posted_persona(fields: dict[str, str]) -> dict[str, Any]:
    return {
        "name": fields.get("name", "").strip(),
        "system_prompt": fields.get("system_prompt", "").replace("\r\n", "\n").strip(),
        "language": fields.get("language", "").strip(),
        "max_length": fields.get("max_length", "").strip(),
        "emoji": fields.get("emoji") == "on",
        "temperature": fields.get("temperature", "").strip().replace(",", "."),
        "model": fields.get("model", "").strip() or None,
        "media_replies": posted_media_replies(fields),
    }


def _field_errors(error: ValidationError, t: Translator) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in error.errors():
        location = tuple(item.get("loc") or ())
        name = error_field(location) or (str(location[0]) if location else "form")
        found.setdefault(name, t("persona.field_error", message=item.get("msg", "")))
    return found


def _persona_form(
    request: Request,
    viewer: Viewer,
    *,
    persona: Persona | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    t = Translator(language_of(request))
    heading = t("persona.edit_title", name=persona.name) if persona else t("persona.new_title")
    return render(
        request,
        "persona.html",
        viewer=viewer,
        active="personas",
        status_code=status_code,
        script_prefixes=("sandbox.",),
        values={
            "persona": persona,
            "heading": heading,
            "action": f"/ui/personas/{persona.id}" if persona else "/ui/personas/new",
            "values": {**values, "model": values.get("model") or ""},
            "errors": errors or {},
            "form_error": form_error,
            "notice": _notice(request, "persona"),
        },
    )


async def _save_persona(
    request: Request, context: ApiContext, viewer: Viewer, persona: Persona | None
) -> Response:
    fields = await _checked_form(request, viewer)
    if fields is None:
        return _forbidden()
    t = Translator(language_of(request))
    values = _posted_persona(fields)
    # What the form shows again when it is refused: the section as posted.
    shown = {**values, "media": rows_from_form(fields)}
    schema: type[BaseModel] = PersonaUpdate if persona else PersonaCreate
    try:
        body = schema.model_validate(values)
    except ValidationError as error:
        return _persona_form(
            request,
            viewer,
            persona=persona,
            values=shown,
            errors=_field_errors(error, t),
            form_error=t("persona.invalid"),
            status_code=422,
        )
    try:
        if persona is None:
            assert isinstance(body, PersonaCreate)
            saved = await persona_routes.create_persona(body, viewer.tenant, context.pool)
        else:
            assert isinstance(body, PersonaUpdate)
            saved = await persona_routes.update_persona(persona.id, body, viewer.tenant, context.pool)
    except DomainError as error:
        if error.code == "persona_not_found":
            return _not_found(request, viewer, "persona")
        message = t("persona.name_taken") if error.code == "persona_name_taken" else error.message
        return _persona_form(
            request,
            viewer,
            persona=persona,
            values=shown,
            errors={"name": message} if error.code == "persona_name_taken" else {},
            form_error=message,
            status_code=409 if error.code == "persona_name_taken" else 422,
        )
    return _back(f"/ui/personas/{saved.id}", "created" if persona is None else "saved")


@router.get("/ui/personas")
async def personas_page(request: Request, context: Context) -> Response:
    """The tenant's personas."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    found = await personas.list_for_tenant(context.pool, viewer.tenant.id, limit=500, offset=0)
    return render(
        request,
        "personas.html",
        viewer=viewer,
        active="personas",
        values={"personas": found, "notice": _notice(request, "persona")},
    )


@router.get("/ui/personas/new")
async def new_persona_page(request: Request, context: Context) -> Response:
    """The form for a new persona, filled with the pt-BR defaults."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    return _persona_form(request, viewer, persona=None, values=_persona_values(None))


@router.post("/ui/personas/new")
async def create_persona(request: Request, context: Context) -> Response:
    """Create a persona through the persona API's own route."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    return await _save_persona(request, context, viewer, None)


async def _persona(context: ApiContext, viewer: Viewer, persona_id: str) -> Persona | None:
    key = _uuid(persona_id)
    return await personas.get(context.pool, viewer.tenant.id, key) if key else None


@router.get("/ui/personas/{persona_id}")
async def persona_page(persona_id: str, request: Request, context: Context) -> Response:
    """Edit a persona, and try it in the sandbox."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    persona = await _persona(context, viewer, persona_id)
    if persona is None:
        return _not_found(request, viewer, "persona")
    return _persona_form(request, viewer, persona=persona, values=_persona_values(persona))


@router.post("/ui/personas/{persona_id}")
async def update_persona(persona_id: str, request: Request, context: Context) -> Response:
    """Save a persona's changes through the persona API's own route."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    persona = await _persona(context, viewer, persona_id)
    if persona is None:
        return _not_found(request, viewer, "persona")
    return await _save_persona(request, context, viewer, persona)


@router.post("/ui/personas/{persona_id}/delete")
async def delete_persona(persona_id: str, request: Request, context: Context) -> Response:
    """Delete a persona (instances using it fall back to the default persona)."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    if await _checked_form(request, viewer) is None:
        return _forbidden()
    persona = await _persona(context, viewer, persona_id)
    if persona is None:
        return _not_found(request, viewer, "persona")
    await persona_routes.delete_persona(persona.id, viewer.tenant, context.pool)
    return _back("/ui/personas", "deleted")


# --- alerts ----------------------------------------------------------------------------------

_SEVERITY_TONES = {"critical": "bad", "warning": "warn", "info": "info"}


@router.get("/ui/alerts")
async def alerts_page(request: Request, context: Context) -> Response:
    """Admin alerts: open ones first (or all), with acknowledge."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    show_all = request.query_params.get("show") == "all"
    found = await alerts.list_for_tenant(
        context.pool,
        viewer.tenant.id,
        AlertFilter(acknowledged=None if show_all else False),
        limit=200,
        offset=0,
    )
    names = {
        item.id: item.name
        for item in await context.instances.list(viewer.tenant.id, state=None, limit=500, offset=0)
    }
    rows = [
        {
            "id": alert.id,
            "title": alert.title,
            "detail": alert.detail,
            "severity": alert.severity,
            "tone": _SEVERITY_TONES.get(alert.severity, "neutral"),
            "occurrences": alert.occurrences,
            "last_seen_at": alert.last_seen_at,
            "delivery_state": alert.delivery_state,
            "acknowledged_at": alert.acknowledged_at,
            "instance_name": names.get(alert.instance_id) if alert.instance_id else None,
        }
        for alert in found
    ]
    return render(
        request,
        "alerts.html",
        viewer=viewer,
        active="alerts",
        values={"alerts": rows, "show_all": show_all, "notice": _notice(request, "alerts")},
    )


@router.post("/ui/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(alert_id: str, request: Request, context: Context) -> Response:
    """Acknowledge an alert (a new occurrence starts a new one)."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    if await _checked_form(request, viewer) is None:
        return _forbidden()
    key = _uuid(alert_id)
    if key is None or await alerts.acknowledge(context.pool, viewer.tenant.id, key) is None:
        return _not_found(request, viewer, "alert")
    return _back("/ui/alerts", "acknowledged")
