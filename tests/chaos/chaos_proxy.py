"""A TCP proxy for the chaos tests, run as a process of its own (its forwarding never
takes the GIL of the test's load clients, and it is stopped by its pid).

    python chaos_proxy.py --upstream 127.0.0.1:6379 [--down]

Prints one JSON line, ``{"port": P, "control": C}``, then forwards 127.0.0.1:P to the
upstream. The control port takes one command per connection and answers one JSON line
(the proxy's state):

* ``up``: forward new connections;
* ``down``: cut every open connection and close new ones at once (what a client sees
  when the server is gone);
* ``delay S``: deliver everything the upstream sends S seconds after it arrived (chunks
  keep their order and are not delayed one after the other: added latency on every round
  trip, not a bandwidth cap); ``delay 0`` removes it;
* ``stats``: only the state (``up``, ``delay``, ``accepted``, ``refused``, ``open``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys


class Proxy:
    def __init__(self, upstream: tuple[str, int], up: bool) -> None:
        self.upstream = upstream
        self.up = up
        self.delay = 0.0
        self.accepted = 0
        self.refused = 0
        self.open: set[asyncio.StreamWriter] = set()

    def state(self) -> dict[str, object]:
        return {
            "up": self.up,
            "delay": self.delay,
            "accepted": self.accepted,
            "refused": self.refused,
            "open": len(self.open) // 2,
        }

    def cut(self) -> None:
        for writer in list(self.open):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self.open.clear()

    async def pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while True:
                    due, data = await chunks.get()
                    if not data:
                        break
                    if due > loop.time():
                        await asyncio.sleep(due - loop.time())
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        sender = asyncio.create_task(deliver())
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(1 << 16):
                await chunks.put((loop.time() + (self.delay if delayed else 0.0), data))
        await chunks.put((0.0, b""))
        await sender

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.refused += 1
            writer.transport.abort()
            return
        self.accepted += 1
        self.open.update((writer, up_writer))
        try:
            await asyncio.gather(
                self.pump(reader, up_writer, delayed=False),
                self.pump(up_reader, writer, delayed=True),
            )
        finally:
            self.open.difference_update((writer, up_writer))

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        words = (await reader.readline()).decode().split()
        command = words[0] if words else "stats"
        if command == "up":
            self.up = True
        elif command == "down":
            self.up = False
            self.cut()
        elif command == "delay" and len(words) == 2:
            self.delay = float(words[1])
        writer.write((json.dumps(self.state()) + "\n").encode())
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        writer.close()


async def main(upstream: tuple[str, int], up: bool) -> None:
    proxy = Proxy(upstream, up)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    control = await asyncio.start_server(proxy.control, "127.0.0.1", 0)
    ports = {
        "port": server.sockets[0].getsockname()[1],
        "control": control.sockets[0].getsockname()[1],
    }
    sys.stdout.write(json.dumps(ports) + "\n")
    sys.stdout.flush()
    async with server, control:
        await asyncio.gather(server.serve_forever(), control.serve_forever())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="host:port")
    parser.add_argument("--down", action="store_true", help="start down")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    asyncio.run(main((host, int(port)), up=not args.down))
