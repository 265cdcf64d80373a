"""Instances survive restarts when `state_file` is set: one JSON file, written atomically."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import structlog

from simulator.state import Instance, SimulatorState, WebhookConfig

_log = structlog.get_logger("simulator.persistence")


def instance_to_dict(instance: Instance) -> dict[str, Any]:
    """A JSON-ready snapshot of what must survive a restart (not the QR or counters)."""
    webhook = instance.webhook
    return {
        "name": instance.name,
        "token": instance.token,
        "integration": instance.integration,
        "id": instance.id,
        "number": instance.number,
        "state": instance.state,
        "owner_jid": instance.owner_jid,
        "profile_name": instance.profile_name,
        "settings": instance.settings,
        "setting_id": instance.setting_id,
        "presence": instance.presence,
        "disconnection_reason_code": instance.disconnection_reason_code,
        "disconnection_object": instance.disconnection_object,
        "disconnection_at": instance.disconnection_at.isoformat() if instance.disconnection_at else None,
        "created_at": instance.created_at.isoformat(),
        "updated_at": instance.updated_at.isoformat(),
        "webhook": None
        if webhook is None
        else {
            "id": webhook.id,
            "url": webhook.url,
            "enabled": webhook.enabled,
            "by_events": webhook.by_events,
            "base64": webhook.base64,
            "headers": webhook.headers,
            "events": webhook.events,
            "created_at": webhook.created_at.isoformat(),
            "updated_at": webhook.updated_at.isoformat(),
        },
    }


def instance_from_dict(raw: dict[str, Any]) -> Instance:
    """Rebuild an instance from `instance_to_dict` output."""
    hook = raw.get("webhook")
    webhook = (
        None
        if hook is None
        else WebhookConfig(
            id=hook["id"],
            url=hook["url"],
            enabled=hook["enabled"],
            by_events=hook["by_events"],
            base64=hook["base64"],
            headers=hook["headers"],
            events=list(hook["events"]),
            created_at=datetime.fromisoformat(hook["created_at"]),
            updated_at=datetime.fromisoformat(hook["updated_at"]),
        )
    )
    state = raw["state"]
    # A QR is not persisted, so an instance caught mid-pairing comes back closed.
    return Instance(
        name=raw["name"],
        token=raw["token"],
        integration=raw["integration"],
        id=raw["id"],
        number=raw.get("number"),
        state="open" if state == "open" else "close",
        owner_jid=raw.get("owner_jid"),
        profile_name=raw.get("profile_name"),
        webhook=webhook,
        settings=dict(raw["settings"]),
        setting_id=raw["setting_id"],
        presence=raw.get("presence", "available"),
        disconnection_reason_code=raw.get("disconnection_reason_code"),
        disconnection_object=raw.get("disconnection_object"),
        disconnection_at=datetime.fromisoformat(raw["disconnection_at"])
        if raw.get("disconnection_at")
        else None,
        created_at=datetime.fromisoformat(raw["created_at"]),
        updated_at=datetime.fromisoformat(raw["updated_at"]),
    )


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class InstanceStore:
    """Saves instances to `path` off the event loop, coalescing bursts of changes."""

    def __init__(self, path: Path, state: SimulatorState) -> None:
        self.path = path
        self.state = state
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None

    async def load(self) -> list[Instance]:
        """Instances saved by a previous run (none when the file does not exist)."""
        if not await asyncio.to_thread(self.path.exists):
            return []
        raw = orjson.loads(await asyncio.to_thread(self.path.read_bytes))
        instances = [instance_from_dict(item) for item in raw.get("instances", [])]
        _log.info("simulator_state_loaded", path=str(self.path), instances=len(instances))
        return instances

    def changed(self) -> None:
        """Schedule a save; many changes in a burst become one write."""
        self._dirty = True
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._dirty:
            self._dirty = False
            snapshot = orjson.dumps(
                {"instances": [instance_to_dict(item) for item in self.state.instances.values()]},
                option=orjson.OPT_INDENT_2,
            )
            await asyncio.to_thread(_write_atomically, self.path, snapshot)

    async def flush(self) -> None:
        """Wait for pending writes (at shutdown)."""
        if self._writer is not None:
            await self._writer
        if self._dirty:
            await self._drain()
