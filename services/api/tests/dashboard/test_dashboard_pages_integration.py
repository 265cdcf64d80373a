"""Campaign, warm-up and metrics pages in-process against the real PostgreSQL, Redis and Kafka:
CSV uploads with their per-row report and every kind of bad file, the weekly grid producing the
api's windows, and charts holding the numbers the `/stats` api answers."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from api.settings import BodyLimitSettings

from ..conftest import Api, ApiFactory, TenantKey, instance_name
from .test_dashboard_integration import signed_in

SAME_SITE = {"Origin": "http://api"}
CAMPAIGN_LINK = re.compile(r'href="/ui/campaigns/([0-9a-f-]{36})"')


async def _instance(api: Api, tenant: TenantKey) -> dict[str, Any]:
    created = await api.client.post(
        "/instances", json={"name": instance_name("camp")}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def _upload(
    client: httpx.AsyncClient,
    csrf: str,
    csv_bytes: bytes,
    *,
    instances: list[str],
    template: str = "Oi, tudo bem?",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    filename: str = "contatos.csv",
) -> httpx.Response:
    data: dict[str, Any] = {
        "csrf_token": csrf,
        "name": f"Black Friday {uuid.uuid4().hex[:4]}",
        "instances": instances,
        "template": template,
        "min_gap_s": "0",
        "max_gap_s": "0",
        **(extra or {}),
    }
    return await client.post(
        "/ui/campaigns/new?lang=en",
        data=data,
        files={"file": (filename, csv_bytes, "text/csv")},
        headers=headers if headers is not None else SAME_SITE,
    )


async def test_a_csv_upload_shows_the_rejected_rows_and_the_campaign_is_steered(
    shared_api: Api, tenant: TenantKey
) -> None:
    instance = await _instance(shared_api, tenant)
    csv_bytes = (
        b"telefone;name;city\n"
        b"+55 (11) 98888-0001;Ana;Santos\n"
        b"\n"
        b"not-a-phone;Bia;\n"
        b"5511988880001;Ana de novo;Santos\n"
        b"5511988880002;Caio;Recife\n"
    )
    async with signed_in(shared_api, tenant) as (client, csrf):
        response = await _upload(
            client,
            csrf,
            csv_bytes,
            instances=[instance["name"]],
            template="Oi {{ name }}, tudo bem?",
            extra={"cell": ["mon-08", "tue-08"], "personalise": "on"},
        )
        assert response.status_code == 201, response.text
        page = response.text
        assert "Rejected rows (2)" in page
        assert "Invalid phone number" in page
        assert "Duplicate of an earlier row" in page
        # The file's line (blank lines counted) beside the api's row index.
        assert re.search(r"<td>4</td><td>1</td><td>not-a-phone</td>", page), page
        assert re.search(r"<td>5</td><td>2</td><td>5511988880001</td>", page), page
        match = CAMPAIGN_LINK.search(page)
        assert match is not None
        campaign_id = match.group(1)

        stored = await shared_api.client.get(f"/outreach/campaigns/{campaign_id}", headers=tenant.headers)
        assert stored.status_code == 200
        assert stored.json()["accepted"] == 2
        assert stored.json()["rejected"] == 2
        assert stored.json()["window"] == [{"days": ["mon", "tue"], "start": "08:00", "end": "09:00"}]
        assert stored.json()["pacing"] == {"min_gap_s": 0.0, "max_gap_s": 0.0}
        assert stored.json()["personalise"] is True

        shown = await client.get(f"/ui/campaigns/{campaign_id}?lang=en")
        assert shown.status_code == 200
        assert 'id="campaign-counts"' in shown.text
        listed = await client.get("/ui/campaigns")
        assert campaign_id in listed.text

        paused = await client.post(
            f"/ui/campaigns/{campaign_id}/pause", data={"csrf_token": csrf}, headers=SAME_SITE
        )
        assert paused.status_code == 303
        assert (
            await shared_api.client.get(f"/outreach/campaigns/{campaign_id}", headers=tenant.headers)
        ).json()["state"] == "paused"
        cancelled = await client.post(
            f"/ui/campaigns/{campaign_id}/cancel", data={"csrf_token": csrf}, headers=SAME_SITE
        )
        assert cancelled.status_code == 303
        # A stale page's button: the api's 409 is said in words.
        stale = await client.post(
            f"/ui/campaigns/{campaign_id}/resume", data={"csrf_token": csrf}, headers=SAME_SITE
        )
        assert stale.headers["location"].endswith("done=conflict")
        page_after = await client.get(cancelled.headers["location"])
        assert "Campaign cancelled" in page_after.text
        skipped = await client.get(f"/ui/campaigns/{campaign_id}?state=skipped")
        assert skipped.status_code == 200
        assert '?state=skipped" aria-current="page">Skipped' in skipped.text


async def test_bad_campaign_files_get_a_clear_message_never_a_500(
    shared_api: Api, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    instance = await _instance(shared_api, tenant)
    names = [instance["name"]]
    async with signed_in(shared_api, tenant) as (client, csrf):
        cases: list[tuple[bytes, int, str]] = [
            (
                "phone,name\n5511988880001,João\n".encode("latin-1"),
                422,
                "not UTF-8 text (first problem on line 2)",
            ),
            (b"nome,cidade\nAna,Santos\n", 422, "no phone column (found: nome, cidade)"),
            (b"PK\x03\x04\x14\x00\x06\x00rest-of-a-zip", 422, "spreadsheet file (Excel)"),
            (b"", 422, "The file is empty"),
            (b"phone,name\n", 422, "header line but no contacts"),
            (b'phone,name\n"5511988880001,Ana\n', 422, "malformed on line"),
            (b"phone,phone\n1,2\n", 422, "appears twice"),
            (b"phone\n" + b"5511988880001\n" * 10, 201, "Rejected rows (9)"),
        ]
        for body, status, message in cases:
            response = await _upload(client, csrf, body, instances=names)
            assert response.status_code == status, (body[:40], response.text)
            assert message in response.text, (body[:40], response.text[-3000:])

        # No file chosen: browsers send an empty part without a file name.
        response = await _upload(client, csrf, b"", instances=names, filename="")
        assert response.status_code == 422
        assert "Choose a CSV file" in response.text

        # Under the api's default body limit for the upload the file may take 5 MB; the page says so.
        oversized = b"phone,notes\n5511988880001," + b"x" * (5 * 1024 * 1024 + 16 * 1024) + b"\n"
        response = await _upload(client, csrf, oversized, instances=names)
        assert response.status_code == 413
        assert "The file is larger than 5 MB" in response.text

        missing_variable = b"phone,name\n5511988880001,Ana\n5511988880002,\n"
        response = await _upload(client, csrf, missing_variable, instances=names, template="Oi {{ name }}!")
        assert response.status_code == 422
        assert "does not render for 1 row(s)" in response.text
        assert re.search(r"<td>3</td><td>1</td><td>5511988880002</td>", response.text)

        response = await _upload(client, csrf, b"phone\n5511988880001\n", instances=[])
        assert response.status_code == 422
        assert 'aria-invalid="true"' in response.text

        # Another tenant's number is unknown here, as in the api.
        theirs = await _instance(shared_api, other_tenant)
        response = await _upload(client, csrf, b"phone\n5511988880001\n", instances=[theirs["name"]])
        assert response.status_code == 422
        assert "no longer exists" in response.text

        refused = await _upload(
            client, "wrong-token", b"phone\n5511988880001\n", instances=names, headers=SAME_SITE
        )
        assert refused.status_code == 403
        cross_site = await _upload(
            client,
            csrf,
            b"phone\n5511988880001\n",
            instances=names,
            headers={"Origin": "http://evil.example"},
        )
        assert cross_site.status_code == 403
    listed = await shared_api.client.get("/outreach/campaigns", headers=tenant.headers)
    assert len(listed.json()["items"]) == 1  # only the one good file created a campaign


async def test_large_uploads_up_to_five_megabytes_when_the_body_limit_allows(
    make_api: ApiFactory, tenant: TenantKey
) -> None:
    api = await make_api(
        body_limit=BodyLimitSettings(by_path={"/outreach/campaigns": 32 << 20, "/ui/campaigns/new": 12 << 20})
    )
    instance = await _instance(api, tenant)
    async with signed_in(api, tenant) as (client, csrf):
        form = await client.get("/ui/campaigns/new?lang=en")
        assert "at most 5 MB and 100,000 rows" in form.text
        assert 'data-max-bytes="5242880"' in form.text
        too_many = b"phone\n" + b"".join(f"55119{n:08d}\n".encode() for n in range(100_001))
        response = await _upload(client, csrf, too_many, instances=[instance["name"]])
        assert response.status_code == 422
        assert "more than 100000 contacts" in response.text
        oversized = b"phone,notes\n5511988880001," + b"x" * (6 << 20) + b"\n"
        response = await _upload(client, csrf, oversized, instances=[instance["name"]])
        assert response.status_code == 413
        assert "The file is larger than 5 MB" in response.text


async def test_a_warmup_pair_is_made_from_the_weekly_grid(shared_api: Api, tenant: TenantKey) -> None:
    a = await _instance(shared_api, tenant)
    b = await _instance(shared_api, tenant)
    async with signed_in(shared_api, tenant) as (client, csrf):
        form = await client.get("/ui/warmup/new?lang=en")
        assert form.status_code == 200
        assert 'aria-label="Monday 08:00–09:00"' in form.text
        created = await client.post(
            "/ui/warmup/new",
            data={
                "csrf_token": csrf,
                "instance_a": a["name"],
                "instance_b": b["name"],
                "persona_a": "",
                "persona_b": "",
                "time_zone": "America/Sao_Paulo",
                "cell": ["mon-08", "mon-09", "tue-08", "tue-09", "wed-20", "sun-23"],
                "min_gap_minutes": "30",
                "turns_min": "2",
                "turns_max": "4",
                "profile": "soft",
                "max_rounds_per_day": "",
            },
            headers=SAME_SITE,
        )
        assert created.status_code == 303, created.text
        pair_id = created.headers["location"].split("/")[3].split("?")[0]
        pair = (await shared_api.client.get(f"/warmup/pairs/{pair_id}", headers=tenant.headers)).json()
        assert pair["windows"] == [
            {"days": ["mon", "tue"], "start": "08:00", "end": "10:00"},
            {"days": ["wed"], "start": "20:00", "end": "21:00"},
            {"days": ["sun"], "start": "23:00", "end": "24:00"},
        ]
        assert pair["turns"] == {"min": 2, "max": 4}
        assert pair["profile"] == "soft"

        page = await client.get(created.headers["location"])
        assert "Pair created." in page.text
        assert "Mon, Tue: 08:00–10:00" in page.text
        assert "No rounds yet." in page.text

        # Minutes the grid cannot show are kept unless a cell changes.
        await shared_api.client.patch(
            f"/warmup/pairs/{pair_id}",
            json={"windows": [{"days": ["fri"], "start": "22:30", "end": "01:00"}]},
            headers=tenant.headers,
        )
        edit = await client.get(f"/ui/warmup/{pair_id}/edit")
        for cell in ("fri-22", "fri-23", "sat-00"):
            assert re.search(rf'value="{cell}"[^>]*\n?[^>]*checked', edit.text), cell
        assert "off the hour" in edit.text
        unchanged = {
            "cell": ["fri-22", "fri-23", "sat-00"],
            "profile": "soft",
            "turns_min": "2",
            "turns_max": "4",
        }
        saved = await client.post(
            f"/ui/warmup/{pair_id}/edit", data={"csrf_token": csrf, **unchanged}, headers=SAME_SITE
        )
        assert saved.status_code == 303, saved.text
        pair = (await shared_api.client.get(f"/warmup/pairs/{pair_id}", headers=tenant.headers)).json()
        assert pair["windows"] == [{"days": ["fri"], "start": "22:30", "end": "01:00"}]

        paused = await client.post(
            f"/ui/warmup/{pair_id}/pause", data={"csrf_token": csrf}, headers=SAME_SITE
        )
        assert paused.status_code == 303
        pair = (await shared_api.client.get(f"/warmup/pairs/{pair_id}", headers=tenant.headers)).json()
        assert pair["status"] == "paused"

        same = await client.post(
            "/ui/warmup/new",
            data={"csrf_token": csrf, "instance_a": a["name"], "instance_b": a["name"]},
            headers=SAME_SITE,
        )
        assert same.status_code == 422
        assert "Choose two different numbers." in same.text
        assert (await client.get(f"/ui/warmup/{uuid.uuid4()}")).status_code == 404


async def test_metrics_charts_hold_the_numbers_of_the_stats_api(shared_api: Api, tenant: TenantKey) -> None:
    async with signed_in(shared_api, tenant) as (client, _csrf):
        for period in ("today", "7d", "30d"):
            page = await client.get(f"/ui/metrics?period={period}&lang=en")
            assert page.status_code == 200, page.text
            for chart in ("chart-hourly", "chart-numbers", "chart-campaigns", "chart-personas"):
                assert f'id="{chart}"' in page.text
        page = await client.get("/ui/metrics")
        overview = (await shared_api.client.get("/stats/overview", headers=tenant.headers)).json()
        for key in ("sent", "received", "failed"):
            assert f'data-total="{key}">{overview["totals"][key]}<' in page.text
        assert 'href="/ui/alerts"' in page.text


async def test_a_spent_daily_quota_is_said_in_words_and_nothing_is_created(
    shared_api: Api, tenant: TenantKey
) -> None:
    instance = await _instance(shared_api, tenant)
    patched = await shared_api.client.patch("/tenant", json={"quotas": {"daily": 0}}, headers=tenant.headers)
    assert patched.status_code == 200, patched.text
    async with signed_in(shared_api, tenant) as (client, csrf):
        response = await _upload(client, csrf, b"phone\n5511988880001\n", instances=[instance["name"]])
        assert response.status_code == 429
        assert "sending quota is spent (0 of 0): nothing was created. Try again after" in response.text
        # The form keeps what was typed (the file must be chosen again).
        assert 'value="Black Friday' in response.text
    listed = await shared_api.client.get("/outreach/campaigns", headers=tenant.headers)
    assert listed.json()["items"] == []
