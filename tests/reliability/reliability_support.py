"""Helpers for tests/reliability: the real daemon under load and faults, measured figures.

Every figure a test measures is appended to <repo>/.reliability/figures.jsonl (one JSON object a
line) and printed, so docs/reliability.md can quote the run. Long variants (60 s, 1M fuzz inputs)
run when IRONPOST_RELIABILITY_LONG=1; CI runs the short ones. Every loop here is bounded in count
and in time, and all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from daemon_support import ROOT, DaemonProc, write_config  # noqa: F401  (re-exported)
from support import free_port  # noqa: F401  (re-exported)
from support import wait_for as wait_until  # noqa: F401  (re-exported)

LONG = os.environ.get("IRONPOST_RELIABILITY_LONG") == "1"
FIGURES = ROOT / ".reliability" / "figures.jsonl"


def record(test: str, **figures) -> None:
    FIGURES.parent.mkdir(exist_ok=True)
    row = {"test": test, "long": LONG, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
    with open(FIGURES, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    print("\nRELIABILITY", json.dumps(row))


def connect(port: int, timeout: float = 10) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def metrics(d: DaemonProc) -> dict[str, float]:
    r = d.request({"cmd": "metrics"})
    assert r.get("ok"), r
    return r["metrics"]


def metric(m: dict, name: str, label: str = "") -> float:
    """Sum of the metrics called `name` (or lp_collector_<name>), over their labels; with `label`,
    only those whose label text contains it (e.g. 'syslog_tcp')."""
    total = 0.0
    for k, v in m.items():
        base, _, labels = k.partition("{")
        if base in (name, f"lp_collector_{name}") and label in labels:
            total += v
    return total


MARKER_RULE = """id: rel_marker
title: reliability marker
severity: high
rate_limit: 100000000
detection:
  conditions:
    - field: message
      operator: contains
      value: RELMARK
"""


def marker_rules(tmp: Path) -> Path:
    rules = tmp / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "marker.yaml").write_text(MARKER_RULE)
    return rules


def stored_alerts(data_dir: Path) -> list[dict]:
    from ironpost.storage.sqlite import SqliteStore

    store = SqliteStore(data_dir / "ironpost.db")
    try:
        return store.query_alerts(limit=100_000_000)
    finally:
        store.close()


def settle(d: DaemonProc, name: str, target: float, timeout: float, quiet: float = 2.0) -> dict:
    """Metrics once counter `name` reaches target, or has not moved for `quiet` seconds (then the
    caller's assertions say what is missing), bounded by timeout."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        m = metrics(d)
        v = metric(m, name)
        if v >= target:
            return m
        now = time.monotonic()
        if v != last:
            last, since = v, now
        elif now - since > quiet or now > deadline:
            return m
        time.sleep(0.1)
