"""Dropping a test database while autovacuum works on it (a stand-in connection plays PostgreSQL)."""

from __future__ import annotations

from typing import Any, cast

import asyncpg
import pytest

from testkit import databases
from testkit.databases import drop_forcibly


class _Server:
    """Answers DROP DATABASE like PostgreSQL 15 with an autovacuum worker (and maybe a
    session) on the database: FORCE is refused while the worker is there; a plain DROP stops
    the worker but fails while a session is connected."""

    def __init__(self, *, autovacuum: bool, sessions_for: int = 0) -> None:
        self.autovacuum = autovacuum
        self.sessions_for = sessions_for  # how many plain DROPs still find a session
        self.statements: list[str] = []
        self.dropped = False

    async def execute(self, sql: str) -> str:
        self.statements.append(sql)
        if sql.endswith("WITH (FORCE)"):
            if self.autovacuum:
                raise asyncpg.InsufficientPrivilegeError(
                    "must be a member of the role whose process is being terminated"
                )
        else:
            self.autovacuum = False  # a plain DROP signals autovacuum workers to stop
            if self.sessions_for > 0:
                self.sessions_for -= 1
                raise asyncpg.ObjectInUseError('database "x" is being accessed by other users')
        self.dropped = True
        return "DROP DATABASE"


def _conn(server: _Server) -> asyncpg.Connection[asyncpg.Record]:
    return cast("asyncpg.Connection[asyncpg.Record]", server)


async def test_force_alone_when_nothing_is_in_the_way() -> None:
    server = _Server(autovacuum=False)
    await drop_forcibly(_conn(server), "x")
    assert server.dropped
    assert server.statements == ['DROP DATABASE IF EXISTS "x" WITH (FORCE)']


async def test_an_autovacuum_worker_is_stopped_by_a_plain_drop() -> None:
    server = _Server(autovacuum=True)
    await drop_forcibly(_conn(server), "x")
    assert server.dropped
    assert server.statements == ['DROP DATABASE IF EXISTS "x" WITH (FORCE)', 'DROP DATABASE IF EXISTS "x"']


async def test_a_session_and_autovacuum_together_take_both_forms_in_turn() -> None:
    server = _Server(autovacuum=True, sessions_for=1)
    await drop_forcibly(_conn(server), "x")
    assert server.dropped
    assert server.statements[-1].endswith("WITH (FORCE)")


async def test_gives_up_after_its_patience(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Stubborn(_Server):
        async def execute(self, sql: str) -> Any:
            self.statements.append(sql)
            if sql.endswith("WITH (FORCE)"):
                raise asyncpg.InsufficientPrivilegeError("must be a member of the role")
            raise asyncpg.ObjectInUseError("being accessed by other users")

    monkeypatch.setattr(databases, "DROP_PATIENCE_S", 0.2)
    server = _Stubborn(autovacuum=True)
    with pytest.raises(asyncpg.ObjectInUseError):
        await drop_forcibly(_conn(server), "x")
    assert len(server.statements) >= 2
