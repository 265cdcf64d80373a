"""A small TCP proxy that injects faults on one link (Toxiproxy's latency and reset_peer, in asyncio).

The chaos run puts one in front of PostgreSQL, Redis and Kafka: the services connect to the
proxy, the proxy to the real server. `latency_s` delays every chunk in both directions;
`reset()` aborts every open connection with a TCP RST (SO_LINGER 0), as a dropped network
link or a firewall would; `refusing` closes new connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field


@dataclass
class FaultyProxy:
    """Listens on `listen_port` and forwards to `target_port` on 127.0.0.1."""

    name: str
    listen_port: int
    target_port: int
    latency_s: float = 0.0
    refusing: bool = False
    resets: int = 0
    connections: int = 0
    _server: asyncio.Server | None = None
    _open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port, backlog=512)

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
            self.reset()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()

    def reset(self) -> int:
        """Abort every open connection with an RST on both sides; how many were cut."""
        cut = 0
        for client, upstream in list(self._open):
            for writer in (client, upstream):
                _abort(writer)
            cut += 1
        self._open.clear()
        self.resets += cut
        return cut

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            _abort(client_writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _abort(client_writer)
            return
        self.connections += 1
        pair = (client_writer, upstream_writer)
        self._open.add(pair)
        pumps = [
            asyncio.create_task(self._pump(client_reader, upstream_writer)),
            asyncio.create_task(self._pump(upstream_reader, client_writer)),
        ]
        for task in pumps:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        self._open.discard(pair)
        for writer in pair:
            with contextlib.suppress(Exception):
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            return


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
