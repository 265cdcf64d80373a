"""The webhook route reads the request's path without building its URL: same spelling."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from ingest.routes import _path_of


@pytest.mark.parametrize(
    "path",
    [
        "/webhook/evolution",
        "/webhook/evolution/messages-upsert",
        "/webhook/evolution/a?b#c",
        "/webhook/a\\b",
        "/ação",
    ],
)
def test_the_path_is_spelled_as_the_url_spells_it(path: str) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("ingest", 8001),
        "path": path,
        "query_string": b"x=1",
        "headers": [(b"host", b"ingest:8001")],
    }
    assert _path_of(scope) == Request(scope).url.path
