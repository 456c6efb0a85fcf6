"""A real daemon in a subprocess, for tests that need signals, the PID file and the control socket."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def write_config(path: Path, data_dir: Path, extra: str = "", log_level: str = "info", log_pipeline: str = "enabled = false") -> Path:
    path.write_text(
        f"""
[general]
log_level = "{log_level}"
log_format = "json"
data_dir = "{data_dir}"
http_listen = "127.0.0.1:0"
shutdown_timeout_secs = 5

[log_pipeline]
{log_pipeline}
{extra}
"""
    )
    return path


class DaemonProc:
    def __init__(self, config: Path, data_dir: Path, umask: int = 0o022, before: str | None = None):
        # `before`: Python run in the daemon's process ahead of it (fault injection)
        # umask 022 by default: what a new user's shell hands the daemon, whatever this test runner's is
        self.config, self.data_dir = config, data_dir
        self.sock = data_dir / "ironpost.sock"
        self.pid_file = data_dir / "ironpost.pid"
        self.log = data_dir.parent / "daemon.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("IRONPOST_")}
        start = ["-m", "ironpost"] if before is None else ["-c", f"{before}\nimport runpy; runpy.run_module('ironpost', run_name='__main__')"]
        self.proc = subprocess.Popen(
            [sys.executable, *start, "daemon", "--config", str(config)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"), umask=umask,
        )
        deadline = time.monotonic() + 20
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start (rc={self.proc.poll()}): {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def request(self, payload):
        from ironpost.daemon.client import request

        return request(self.sock, payload)

    def stop(self, sig=signal.SIGTERM, timeout=15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log.read_text()
