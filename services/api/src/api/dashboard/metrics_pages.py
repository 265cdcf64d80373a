"""The metrics page: traffic per hour, per number, per campaign and per persona, drawn on the
server as SVG bar charts from the api's own `/stats` route functions (`api.stats.routes`), so
the page shows exactly what the JSON api answers for the same period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.alerts import repository as alerts
from api.alerts.repository import AlertFilter
from api.dashboard.charts import Chart, Series, bar_chart
from api.dashboard.i18n import Translator, language_of
from api.dashboard.pages import _viewer_or_login
from api.dashboard.rendering import formatter_for, render
from api.dependencies import Context
from api.domain_errors import DomainError
from api.outreach import repository as outreach
from api.stats import routes as stats_routes
from api.stats.repository import DEFAULT_PERSONA_ID
from api.tenants.repository import Tenant

router = APIRouter(include_in_schema=False)

PERIODS = ("today", "7d", "30d")
DEFAULT_PERIOD = "7d"
CAMPAIGNS_CHARTED = 12
_HOUR_FORMATS = {"pt-BR": "%d/%m %Hh", "en": "%m-%d %H:00"}


def period_bounds(period: str, tenant: Tenant) -> tuple[str | None, str | None]:
    """The `from`/`to` the stats routes get for a period (7 days is their own default)."""
    today = datetime.now(ZoneInfo(tenant.time_zone)).date()
    if period == "today":
        return today.isoformat(), None
    if period == "30d":
        return (today - timedelta(days=29)).isoformat(), None
    return None, None


def _hour_label(value: str, t: Translator, zone: ZoneInfo) -> str:
    moment = datetime.fromisoformat(value).astimezone(zone)
    return moment.strftime(_HOUR_FORMATS.get(t.language, _HOUR_FORMATS["en"]))


def traffic_series(t: Translator) -> list[Series]:
    """Sent, received, failed."""
    return [
        Series("sent", t("metrics.series.sent")),
        Series("received", t("metrics.series.received")),
        Series("failed", t("metrics.series.failed")),
    ]


def hourly_chart(overview: dict[str, Any], t: Translator, zone: ZoneInfo) -> Chart:
    """Per hour (the hours with traffic, in the tenant's zone)."""
    hours = overview.get("hours", [])
    return bar_chart(
        "chart-hourly",
        t("metrics.chart.hourly"),
        category_label=t("metrics.col.hour"),
        series=traffic_series(t),
        categories=[_hour_label(hour["hour"], t, zone) for hour in hours],
        rows=[[hour["sent"], hour["received"], hour["failed"]] for hour in hours],
    )


def numbers_chart(numbers: dict[str, Any], t: Translator) -> Chart:
    """Per number, the period's totals."""
    items = numbers.get("numbers", [])
    return bar_chart(
        "chart-numbers",
        t("metrics.chart.numbers"),
        category_label=t("metrics.col.number"),
        series=traffic_series(t),
        categories=[item["instance_name"] or str(item["instance_id"])[:8] for item in items],
        rows=[[item["totals"][key] for key in ("sent", "received", "failed")] for item in items],
    )


def campaigns_chart(campaigns: list[dict[str, Any]], t: Translator) -> Chart:
    """Per campaign: sent, failed, replies within 24 h."""
    return bar_chart(
        "chart-campaigns",
        t("metrics.chart.campaigns"),
        category_label=t("metrics.col.campaign"),
        series=[
            Series("sent", t("metrics.series.sent")),
            Series("failed", t("metrics.series.failed")),
            Series("replies", t("metrics.series.replies_24h")),
        ],
        categories=[item["name"] for item in campaigns],
        rows=[[item["sent"], item["failed"], item["replies_24h"]] for item in campaigns],
    )


def _persona_label(item: dict[str, Any], t: Translator) -> str:
    if item["persona_id"] == str(DEFAULT_PERSONA_ID):
        return t("metrics.default_persona")
    return str(item["name"] or "—")


def personas_chart(personas: dict[str, Any], t: Translator) -> Chart:
    """Per persona: conversations answered and replies sent."""
    items = personas.get("personas", [])
    return bar_chart(
        "chart-personas",
        t("metrics.chart.personas"),
        category_label=t("metrics.col.persona"),
        series=[
            Series("conversations", t("metrics.series.conversations")),
            Series("replies", t("metrics.series.replies")),
        ],
        categories=[_persona_label(item, t) for item in items],
        rows=[[item["conversations"], item["replies"]] for item in items],
    )


@router.get("/ui/metrics")
async def metrics_page(request: Request, context: Context) -> Response:
    """Charts of the tenant's traffic and results, and its open alerts."""
    viewer = await _viewer_or_login(request, context)
    if isinstance(viewer, Response):
        return viewer
    t = Translator(language_of(request))
    tenant = viewer.tenant
    zone = ZoneInfo(tenant.time_zone)
    period = request.query_params.get("period") or DEFAULT_PERIOD
    period = period if period in PERIODS else DEFAULT_PERIOD
    start, end = period_bounds(period, tenant)
    overview = await stats_routes.overview(request, tenant, context.pool, start=start, end=end)
    numbers = await stats_routes.numbers(request, tenant, context.pool, start=start, end=end)
    personas = await stats_routes.personas(request, tenant, context.pool)
    campaigns: list[dict[str, Any]] = []
    for row in await outreach.list_campaigns(context.pool, tenant.id, limit=CAMPAIGNS_CHARTED, offset=0):
        try:
            campaigns.append(await stats_routes.campaign(row.id, request, tenant, context.pool))
        except DomainError:
            continue
    open_alerts = await alerts.list_for_tenant(
        context.pool, tenant.id, AlertFilter(acknowledged=False), limit=200, offset=0
    )
    when = formatter_for(t, tenant.time_zone)
    refreshed = overview["window"].get("refreshed_at")
    return render(
        request,
        "metrics.html",
        viewer=viewer,
        active="metrics",
        values={
            "period": period,
            "periods": PERIODS,
            "totals": overview["totals"],
            "window_start": when(datetime.fromisoformat(overview["window"]["start"])),
            "window_end": when(datetime.fromisoformat(overview["window"]["end"])),
            "refreshed_at": when(datetime.fromisoformat(refreshed)) if refreshed else None,
            "charts": [
                hourly_chart(overview, t, zone),
                numbers_chart(numbers, t),
                campaigns_chart(campaigns, t),
                personas_chart(personas, t),
            ],
            "open_alerts": len(open_alerts),
        },
    )
