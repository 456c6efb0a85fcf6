"""Shared test helpers (tests/ is on sys.path through tests/conftest.py).

need(): skip a test that needs a real part (root, BPF, Docker, PostgreSQL, Redis) that this
host lacks, always with the reason. Under CI (IRONPOST_NO_SKIP=1) a missing part fails the
test instead, because CI machines have every part and a skip there would hide a break.
"""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest


def need(ok: bool, reason: str) -> None:
    if ok:
        return
    if os.environ.get("IRONPOST_NO_SKIP") == "1":
        pytest.fail(f"required part missing under IRONPOST_NO_SKIP=1: {reason}")
    pytest.skip(reason)


def is_root() -> bool:
    return os.geteuid() == 0


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None


def free_port(kind=socket.SOCK_STREAM) -> int:
    """A loopback port free now (TCP by default, or UDP with kind=socket.SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float, what: str, interval: float = 0.05):
    """pred()'s first truthy value, polled every interval; AssertionError naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(interval)


POSTGRES_DSN = os.environ.get("IRONPOST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("IRONPOST_TEST_REDIS", "redis://127.0.0.1:6379/0")

# ../shared/data beside the repository (CI gets a copy there too); tests that need it say so via need().
from pathlib import Path as _Path

SHARED_DATA = _Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_OSV = SHARED_DATA / "osv"
