"""A tiny HTTP/1.1 endpoint on loopback: GET /healthz and GET /metrics (Prometheus text).

Two fixed routes do not justify a web framework in the binary; asyncio streams suffice.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import orjson

from ironpost.core.netaddr import is_loopback_host, parse_addr


def render_prometheus(metrics: dict[str, float]) -> str:
    lines = []
    seen_types = set()
    for name in sorted(metrics):
        base = name.split("{", 1)[0]
        full = f"ironpost_{name}"
        if base not in seen_types:
            seen_types.add(base)
            kind = "counter" if base.endswith("_total") else "gauge"
            lines.append(f"# TYPE ironpost_{base} {kind}")
        value = metrics[name]
        lines.append(f"{full} {float(value):g}" if not isinstance(value, int) else f"{full} {value}")
    return "\n".join(lines) + "\n"


class HttpServer:
    def __init__(self, listen: str, health: Callable[[], dict], metrics: Callable[[], dict[str, float]]):
        self.host, self.port = parse_addr(listen)
        self.health, self.metrics = health, metrics
        self._server: asyncio.AbstractServer | None = None

    @property
    def loopback(self) -> bool:
        """True when only this host can connect (the default, 127.0.0.1)."""
        return is_loopback_host(self.host)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while True:  # skip headers
                h = await asyncio.wait_for(reader.readline(), 5)
                if h in (b"\r\n", b"\n", b""):
                    break
            parts = request_line.decode("latin-1").split()
            method, path = (parts + ["", ""])[:2]
            if method != "GET":
                status, ctype, body = "405 Method Not Allowed", "text/plain", b"only GET\n"
            elif path == "/healthz":
                h = self.health()
                status = "200 OK" if h.get("status") == "ok" else "503 Service Unavailable"
                ctype, body = "application/json", orjson.dumps(h)
            elif path == "/metrics":
                status, ctype = "200 OK", "text/plain; version=0.0.4"
                body = render_prometheus(self.metrics()).encode()
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
