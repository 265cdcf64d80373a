"""`mirage-admin`: tenants and API keys from the command line.

    mirage-admin tenants create <slug> --name "Loja Centro" [--time-zone America/Sao_Paulo] [--no-key]
    mirage-admin tenants list
    mirage-admin keys issue <tenant-slug> [--name ci]
    mirage-admin keys rotate <key-id>
    mirage-admin keys revoke <key-id>
    mirage-admin keys list <tenant-slug>

A key's secret is printed once, when it is issued (or rotated); only its SHA-256
is stored. `--json` prints one JSON document instead of text. The database is
the api's (`MIRAGE_API_POSTGRES__DSN` or `MIRAGE_POSTGRES__DSN`), or `--dsn`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import SecretStr

from api.domain_errors import DomainError
from api.settings import ApiSettings
from api.tenants import service
from api.tenants.repository import ApiKey, Tenant, list_tenants
from database import DatabaseUnavailableError, PostgresSettings, create_pool

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNAVAILABLE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirage-admin", description="Manage Mirage tenants and API keys.")
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: the api's settings)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    groups = parser.add_subparsers(dest="group", required=True)

    tenants = groups.add_parser("tenants", help="tenants").add_subparsers(dest="action", required=True)
    create = tenants.add_parser("create", help="create a tenant (and its first API key)")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.add_argument("--time-zone", default="America/Sao_Paulo")
    create.add_argument("--no-key", action="store_true", help="do not issue a first key")
    tenants.add_parser("list", help="list tenants")

    keys = groups.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    issue = keys.add_parser("issue", help="issue a new key for a tenant")
    issue.add_argument("tenant")
    issue.add_argument("--name", default="default")
    rotate = keys.add_parser("rotate", help="replace a key: new key, same name, old one revoked")
    rotate.add_argument("key_id", type=uuid.UUID)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", type=uuid.UUID)
    listing = keys.add_parser("list", help="list a tenant's keys (prefixes only)")
    listing.add_argument("tenant")
    return parser


def _tenant_view(tenant: Tenant) -> dict[str, Any]:
    return {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name, "time_zone": tenant.time_zone}


def _key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "tenant_id": str(key.tenant_id),
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


class _Printer:
    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json

    def emit(self, document: Any, lines: Sequence[str]) -> None:
        if self.as_json:
            self.out.write(json.dumps(document, indent=2) + "\n")
        else:
            self.out.write("".join(f"{line}\n" for line in lines))

    def secret_lines(self, secret: str) -> list[str]:
        return [f"api key: {secret}", "store it now: it is shown only this once"]


async def _dispatch(args: argparse.Namespace, dsn: SecretStr, printer: _Printer) -> None:
    pool = await create_pool(
        PostgresSettings(dsn=dsn, pool_min_size=1, pool_max_size=2, connect_timeout_s=5),
        application_name="mirage-admin",
    )
    try:
        if args.group == "tenants" and args.action == "create":
            tenant = await service.create_tenant(pool, args.slug, args.name, args.time_zone)
            document: dict[str, Any] = {"tenant": _tenant_view(tenant)}
            lines = [f"tenant {tenant.slug} created: {tenant.id}"]
            if not args.no_key:
                issued = await service.issue_key(pool, tenant.id)
                document["key"] = {**_key_view(issued.key), "secret": issued.secret}
                lines += [f"key {issued.key.id} ({issued.key.prefix}…)", *printer.secret_lines(issued.secret)]
            printer.emit(document, lines)
        elif args.group == "tenants":
            found = await list_tenants(pool)
            printer.emit(
                {"tenants": [_tenant_view(tenant) for tenant in found]},
                [f"{tenant.slug}\t{tenant.id}\t{tenant.name}" for tenant in found],
            )
        elif args.action == "issue":
            tenant = await service.find_tenant(pool, args.tenant)
            issued = await service.issue_key(pool, tenant.id, args.name)
            printer.emit(
                {"key": {**_key_view(issued.key), "secret": issued.secret}},
                [
                    f"key {issued.key.id} ({issued.key.prefix}…) for {tenant.slug}",
                    *printer.secret_lines(issued.secret),
                ],
            )
        elif args.action == "rotate":
            issued = await service.rotate_key(pool, args.key_id)
            printer.emit(
                {"revoked": str(args.key_id), "key": {**_key_view(issued.key), "secret": issued.secret}},
                [
                    f"key {args.key_id} revoked",
                    f"key {issued.key.id} ({issued.key.prefix}…) replaces it",
                    *printer.secret_lines(issued.secret),
                ],
            )
        elif args.action == "revoke":
            key = await service.revoke_key(pool, args.key_id)
            printer.emit({"key": _key_view(key)}, [f"key {key.id} ({key.prefix}…) revoked"])
        else:
            tenant = await service.find_tenant(pool, args.tenant)
            keys = await service.list_keys(pool, tenant.id)
            printer.emit(
                {"keys": [_key_view(key) for key in keys]},
                [
                    f"{key.id}\t{key.prefix}…\t{key.name}\t"
                    + (f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live")
                    for key in keys
                ],
            )
    finally:
        await pool.close()


async def run_admin(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Run one `mirage-admin` command; returns the exit code."""
    args = _parser().parse_args(list(argv))
    dsn = SecretStr(args.dsn) if args.dsn else ApiSettings().postgres.dsn
    try:
        await _dispatch(args, dsn, _Printer(out, as_json=args.json))
    except DomainError as error:
        err.write(f"mirage-admin: {error.message}\n")
        return EXIT_REFUSED
    except DatabaseUnavailableError as error:
        err.write(f"mirage-admin: cannot reach PostgreSQL ({error}); check MIRAGE_API_POSTGRES__DSN\n")
        return EXIT_UNAVAILABLE
    return EXIT_OK


def main() -> None:
    """Console script entry point."""
    sys.exit(asyncio.run(run_admin(sys.argv[1:], sys.stdout, sys.stderr)))


if __name__ == "__main__":
    main()
