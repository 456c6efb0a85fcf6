"""The control socket: newline-delimited JSON requests on a unix socket (mode 0600).

Request  {"cmd": "status" | "reload" | "metrics" | "module", "module": "...", "op": "...", "args": {...}}
Response {"ok": true, ...} or {"ok": false, "error": "..."}
The client side is ironpost.daemon.client (no asyncio, so the CLI starts fast).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson


log = logging.getLogger("ironpost.daemon")
MAX_REQUEST = 1 << 20

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlServer:
    def __init__(self, path: str | Path, handler: Handler):
        self.path = Path(path)
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()  # a leftover from a crash; the PID file already proved no live daemon
        # Create the socket under a restrictive umask so there is no window where it is world-accessible.
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REQUEST)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    writer.write(orjson.dumps({"ok": False, "error": "request too large"}) + b"\n")
                    break
                if not line:
                    break
                try:
                    req = orjson.loads(line)
                    if not isinstance(req, dict):
                        raise ValueError("request must be a JSON object")
                    resp = await self.handler(req)
                except (orjson.JSONDecodeError, ValueError) as exc:
                    resp = {"ok": False, "error": f"bad request: {exc}"}
                except Exception as exc:  # a failing command must not kill the control server
                    log.exception("control command failed")
                    resp = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                writer.write(orjson.dumps(resp, default=str) + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
