"""The control socket: newline-delimited JSON requests on a unix socket (mode 0600).

Request  {"cmd": "status" | "reload" | "metrics" | "module", "module": "...", "op": "...", "args": {...}}
Response {"ok": true, ...} or {"ok": false, "error": "..."}
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson

from ironpost.core.errors import DaemonError

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


def request(path: str | Path, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Blocking client for the CLI. Raises DaemonError when no daemon answers."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        s.close()
        raise DaemonError(f"no daemon is listening on {path} ({exc.strerror or exc})") from None
    except PermissionError:
        s.close()
        raise DaemonError(f"permission denied on control socket {path} (it is mode 0600: run as the daemon's user)") from None
    try:
        s.sendall(orjson.dumps(payload) + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (socket.timeout, OSError) as exc:
        raise DaemonError(f"control socket {path}: {exc}") from None
    finally:
        s.close()
    if not buf:
        raise DaemonError(f"control socket {path} closed without answering")
    return orjson.loads(buf)
