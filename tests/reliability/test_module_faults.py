"""One module failing while the others work, in the real daemon.

The daemon runs as `nobody` (so a file can really turn unreadable: root reads anything) with
- the log pipeline tailing a file that turns unreadable (mode 000) mid-run, and syslog TCP;
- the container guard pointed at a Docker socket that does not exist;
- the network module asked to attach XDP to an interface that does not exist, without root.
The pipeline keeps alerting from syslog while the file is unreadable; the file's error is counted
and the lines written meanwhile are read once it is readable again; the two failed modules are
tried again with backoff and shown as such in `cli status` and /metrics.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import support
from reliability_support import ROOT, connect, free_port, marker_rules, metric, record, stored_alerts

NOBODY = 65534


def test_failed_modules_retry_with_backoff_while_the_others_work():
    support.need(support.is_root(), "needs root to run the daemon as nobody (a file unreadable to it)")
    base = Path(tempfile.mkdtemp(prefix="ironpost-rel-mod-", dir="/tmp"))
    proc = None
    try:
        os.chmod(base, 0o755)
        data, logs = base / "data", base / "logs"
        logs.mkdir()
        log = logs / "app.log"
        log.write_bytes(b"")
        rules = marker_rules(base)
        for p in (base, logs, log, rules, *rules.iterdir()):
            os.chown(p, NOBODY, NOBODY)
        port = free_port()
        cfg = base / "c.toml"
        cfg.write_text(f"""
[general]
log_level = "info"
log_format = "json"
data_dir = "{data}"
http_listen = "127.0.0.1:0"
shutdown_timeout_secs = 5
[log_pipeline]
enabled = true
rules_dir = "{rules}"
syslog_tcp = "127.0.0.1:{port}"
watch_paths = ["{log}"]
files_start_at = "beginning"
files_poll_interval_secs = 0.1
[container]
enabled = true
docker_socket = "unix://{base}/no-docker.sock"
[ebpf]
enabled = true
interface = "ironpost-none0"
""")
        os.chown(cfg, NOBODY, NOBODY)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IRONPOST_")}
        stderr = open(base / "daemon.log", "wb")
        support.need(support.have("setpriv"), "setpriv (util-linux) not installed")
        proc = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                 sys.executable, "-m", "ironpost", "daemon", "--config", str(cfg)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        sock = data / "ironpost.sock"
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (base / "daemon.log").read_text()[-2000:]
            time.sleep(0.05)

        from ironpost.daemon.client import request

        def status():
            return request(sock, {"cmd": "status"})["modules"]

        def metrics():
            return request(sock, {"cmd": "metrics"})["metrics"]

        def alerts_with(word):
            return [a for a in stored_alerts(data) if word in a["details"]["message"]]

        def wait(pred, what, timeout=20):
            end = time.monotonic() + timeout
            while not pred():
                assert time.monotonic() < end, f"timed out waiting for {what}"
                time.sleep(0.1)

        with open(log, "ab") as fh:
            fh.write(b"".join(b"Dec  6 12:00:00 web app[1]: RELMARK file-a %d\n" % i for i in range(10)))
        wait(lambda: len(alerts_with("file-a")) == 10, "alerts from the file")

        # the file turns unreadable: rotated to a new file with mode 000 (what a bad logrotate `create` does)
        os.rename(log, logs / "app.log.1")
        fd = os.open(log, os.O_CREAT | os.O_WRONLY, 0o000)
        os.fchown(fd, 0, 0)
        os.write(fd, b"".join(b"Dec  6 12:00:01 web app[1]: RELMARK file-b %d\n" % i for i in range(10)))
        os.close(fd)
        wait(lambda: metric(metrics(), "errors_total", "file_tail") >= 1, "the unreadable file counted as an error")

        # the other sources of the same module, and the store, keep working
        with connect(port) as s:
            s.sendall(b"".join(b"<13>Dec  6 12:00:02 web app[2]: RELMARK tcp %d\n" % i for i in range(10)))
        wait(lambda: len(alerts_with("tcp")) == 10, "alerts from syslog TCP while the file is unreadable")

        # failed modules: tried again with backoff, visible in status and /metrics
        wait(lambda: status()["container"].get("retries", 0) >= 3, "container guard retried", timeout=30)
        st = status()
        m = metrics()
        cli = subprocess.run([sys.executable, "-m", "ironpost", "cli", "status", "--config", str(cfg)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        assert re.search(r"container\s+unavailable\s+restarts 0\s+retries \d+", cli.stdout), cli.stdout
        assert "no such socket" in st["container"]["last_error"] or "unreachable" in st["container"]["last_error"]
        assert m['module_unavailable{module="container"}'] == 1 and m['module_retries_total{module="container"}'] >= 3
        ebpf = st["ebpf"]
        # without root the network module is unavailable; with the rights but no such interface it crashes: either way retried
        assert ebpf.get("retries", 0) + ebpf["restarts"] >= 1 and ebpf["last_error"], ebpf
        assert st["log_pipeline"]["state"] == "running" and st["log_pipeline"]["restarts"] == 0
        assert m['module_up{module="log_pipeline"}'] == 1

        # readable again: the lines written meanwhile are read, none lost
        os.chmod(log, 0o644)
        wait(lambda: len(alerts_with("file-b")) == 10, "the file's lines once it is readable again")
        record("module_faults", container=st["container"], ebpf={k: ebpf[k] for k in ("state", "restarts", "last_error") if k in ebpf}
               | {"retries": ebpf.get("retries", 0)}, file_tail_errors=metric(m, "errors_total", "file_tail"),
               log_pipeline=st["log_pipeline"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)
