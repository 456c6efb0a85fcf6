"""The private dockerd handle and container helpers shared by tests/container and bench/test_container.py.
(Not named conftest: several test folders have one, and `import conftest` would be ambiguous.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import support

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "packaging" / "dockerd-test.sh"
IMAGE = "ironpost-test/busybox:1"
TEST_LABEL = "ironpost.test"
NAMES = ("web-1", "api-1", "db-1")
NET = "ipt-front"


@dataclass
class Dockerd:
    dir: Path
    host: str
    env: dict

    def script(self, cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCRIPT), cmd], env=self.env, capture_output=True, text=True, timeout=timeout)

    def pid(self) -> int:
        return int((self.dir / "dockerd.pid").read_text().strip())

    def kill(self) -> None:
        """SIGTERM the engine (containers survive: it runs with --live-restore) and wait for it to go."""
        pid = self.pid()
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise AssertionError(f"dockerd {pid} did not stop")

    def start(self) -> None:
        r = self.script("start")
        assert r.returncode == 0, r.stderr + r.stdout


def private_dockerd():
    """Generator for a session fixture: start (or reuse) the engine, stop it only if we started it."""
    support.need(support.is_root(), "the private dockerd needs root")
    support.need(support.have("dockerd"), "dockerd is not installed (apt-get install docker.io)")
    d = Path(os.environ.get("IRONPOST_DOCKERD_DIR", "/tmp/ironpost-dockerd"))
    env = dict(os.environ, IRONPOST_DOCKERD_DIR=str(d))
    handle = Dockerd(d, f"unix://{d}/docker.sock", env)
    was_running = handle.script("status").returncode == 0
    r = handle.script("start")
    support.need(r.returncode == 0, f"private dockerd did not start: {r.stderr.strip()[-400:]}")
    yield handle
    if not was_running:
        handle.script("stop")


def make_container(client, name: str, **labels):
    return client.containers.run(IMAGE, ["sleep", "3600"], name=name, detach=True, init=True, labels={TEST_LABEL: "1", **labels})


def state_of(client, name: str) -> dict:
    return client.api.inspect_container(name)["State"]


def networks_of(client, name: str) -> set[str]:
    return set(client.api.inspect_container(name)["NetworkSettings"]["Networks"])
