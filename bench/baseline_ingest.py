"""The ingest benchmark's same-run baseline: bare FastAPI + HMAC check + one INSERT.

What a minimal webhook receiver costs on this machine: read the body, check an
HMAC-SHA256 of it in constant time, insert it as jsonb in one autocommit
statement, answer 200. Run: `python bench/baseline_ingest.py <port> <dsn> <secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI, Request, Response

PORT, DSN, SECRET = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
state: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(DSN, min_size=20, max_size=20)
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS bench_baseline_events"
        " (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " received_at timestamptz DEFAULT now(), payload jsonb)"
    )
    state["pool"] = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/webhook")
async def webhook(request: Request) -> Response:
    body = await request.body()
    given = request.headers.get("x-hub-signature-256", "")[7:]
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return Response(status_code=401)
    await state["pool"].execute(
        "INSERT INTO bench_baseline_events (payload) VALUES ($1::text::jsonb)", body.decode()
    )
    return Response(b'{"status":"ok"}', media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False, loop="uvloop")
