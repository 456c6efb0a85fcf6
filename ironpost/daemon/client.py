"""Client side of the control socket, for the CLI: plain blocking sockets, no event loop,
so CLI commands start fast. The server is ironpost.daemon.control."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import orjson

from ironpost.core.config import Config
from ironpost.core.errors import DaemonError


def runtime_paths(config: Config) -> tuple[Path, Path]:
    """(PID file, control socket) of the daemon a config describes."""
    return (
        config.resolve_path("general", "pid_file", "ironpost.pid"),
        config.resolve_path("general", "control_socket", "ironpost.sock"),
    )


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
