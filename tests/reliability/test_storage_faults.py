"""Storage killed mid-stream and started again, with the real daemon writing alerts.

PostgreSQL: a private cluster (initdb/pg_ctl on its own port) is SIGKILLed while marker lines
stream in over syslog TCP and started again a few seconds later: every alert is in the database
exactly once (the daemon spools during the outage and replays; COPY ... ON CONFLICT (id) DO
NOTHING makes a replayed batch that had committed add nothing).

Redis (shared threshold state): a private redis-server is SIGKILLed and restarted while
attackers, one after another, each send exactly `count` failures: every attacker is alerted
exactly once, whether its failures were counted in Redis, in the local fallback, or across both.
"""

from __future__ import annotations

import collections
import re
import socket
import threading
import time

from private_services import PrivatePostgres, PrivateRedis
from reliability_support import (LONG, DaemonProc, connect, free_port, marker_rules, metric, metrics, record, write_config)

SECONDS = 30.0 if LONG else 9.0
RATE = 1000  # marker lines per second
SEQ = re.compile(r"seq=(\d+)")


def stream(port: int, seconds: float, sent: list, marks: list) -> None:
    """Marker lines at RATE for `seconds`; calls the fault hooks in `marks` at their times."""
    with connect(port) as s:
        t0 = time.monotonic()
        seq = 0
        pending = sorted(marks)
        while time.monotonic() - t0 < seconds and seq < 10_000_000:
            s.sendall(b"".join(b"<13>Dec  6 12:00:00 web app[1]: RELMARK seq=%d\n" % (seq + i) for i in range(RATE // 20)))
            seq += RATE // 20
            while pending and time.monotonic() - t0 >= pending[0][0]:
                pending.pop(0)[1]()
            time.sleep(0.05)
        while pending:  # run the rest of the hooks (a restart must never be skipped)
            pending.pop(0)[1]()
    sent.append(seq)


def test_postgres_killed_mid_stream_every_alert_written_once(tmp_path):
    import psycopg

    pg = PrivatePostgres()
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    cfg = write_config(tmp_path / "c.toml", data, log_level="warning",
                       log_pipeline=f'enabled = true\nrules_dir = "{marker_rules(tmp_path)}"\nsyslog_tcp = "127.0.0.1:{port}"',
                       extra=f'[log_pipeline.storage]\npostgres_url = "{pg.url}"')
    d = DaemonProc(cfg, data)
    outage = {}
    try:
        def kill():
            outage["killed"] = time.monotonic()
            pg.kill()

        def restart():
            pg.start()
            outage["restarted"] = time.monotonic()

        sent: list = []
        stream(port, SECONDS, sent, [(SECONDS / 3, kill), (2 * SECONDS / 3, restart)])
        total = sent[0]
        deadline = time.monotonic() + 90
        rows: list = []
        while time.monotonic() < deadline:
            m = metrics(d)
            with psycopg.connect(pg.url, connect_timeout=3) as db:
                rows = [r[0] for r in db.execute("SELECT body->'details'->>'message' FROM ironpost_alerts")]
            if len(rows) >= total and d.request({"cmd": "status"})["spooled"] == 0:
                break
            time.sleep(0.5)
        time.sleep(1.0)
        with psycopg.connect(pg.url, connect_timeout=3) as db:
            rows = [r[0] for r in db.execute("SELECT body->'details'->>'message' FROM ironpost_alerts")]
        m = metrics(d)
    finally:
        d.stop()
        pg.stop()
    seen = collections.Counter(int(SEQ.search(r).group(1)) for r in rows)
    lost = sorted(set(range(total)) - set(seen))
    dup = sum(n - 1 for n in seen.values() if n > 1)
    record("postgres_killed_mid_stream", seconds=SECONDS, alerts_sent=total, stored=len(rows), lost=len(lost), duplicated=dup,
           outage_secs=round(outage["restarted"] - outage["killed"], 2),
           spooled_total=metric(m, "storage_spooled_total"), replayed_total=metric(m, "storage_replayed_total"),
           spool_dropped=metric(m, "storage_spool_dropped_total"))
    assert lost == [] and dup == 0, (len(lost), lost[:10], dup)
    assert metric(m, "storage_spooled_total") > 0  # the outage really happened under the stream
    assert metric(m, "storage_replayed_total") == metric(m, "storage_spooled_total")


ATTACK_RULE = """id: rel_brute
title: reliability brute force
severity: high
detection:
  conditions:
    - field: message
      operator: regex
      value: '^Failed password for \\S+ from \\S+ port \\d+ ssh2'
threshold:
  count: 3
  timeframe_secs: 60
  group_by: [src_ip]
"""


def test_redis_killed_mid_stream_every_attacker_alerted_once(tmp_path):
    redis_srv = PrivateRedis(tmp_path)
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "brute.yaml").write_text(ATTACK_RULE)
    cfg = write_config(tmp_path / "c.toml", data, log_level="warning",
                       log_pipeline=f'enabled = true\nrules_dir = "{rules}"\nsyslog_tcp = "127.0.0.1:{port}"',
                       extra=f'[log_pipeline.storage]\nredis_url = "{redis_srv.url}"')
    d = DaemonProc(cfg, data)
    attackers = 0
    try:
        with connect(port) as s:
            t0 = time.monotonic()
            killed = restarted = False
            # attacker k: 3 failures from 10.200.<k/250>.<k%250>, one second of event time apart
            while time.monotonic() - t0 < SECONDS and attackers < 100_000:
                k = attackers
                ip = f"10.200.{k // 250}.{k % 250 + 1}"
                for j in range(3):
                    ts = 3 * k + j
                    s.sendall(f"<38>1 2026-12-06T{ts // 3600 % 24:02d}:{ts // 60 % 60:02d}:{ts % 60:02d}Z web sshd {k} - - "
                              f"Failed password for root from {ip} port 22 ssh2\n".encode())
                    time.sleep(0.004)
                attackers += 1
                now = time.monotonic() - t0
                if not killed and now > SECONDS / 3:
                    redis_srv.kill()
                    killed = True
                if killed and not restarted and now > 2 * SECONDS / 3:
                    redis_srv.start()
                    restarted = True
            if not restarted:
                redis_srv.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = metrics(d)
            if metric(m, "lp_lines_total") >= 3 * attackers:
                break
            time.sleep(0.2)
        time.sleep(1.0)
        m = metrics(d)
        from reliability_support import stored_alerts
        alerts = stored_alerts(data)
    finally:
        d.stop()
        redis_srv.stop()
    by_ip = collections.Counter(a.get("src_ip") or a["group"].get("src_ip") for a in alerts)
    expected = {f"10.200.{k // 250}.{k % 250 + 1}" for k in range(attackers)}
    missed = expected - set(by_ip)
    twice = {ip: n for ip, n in by_ip.items() if n > 1}
    record("redis_killed_mid_stream", seconds=SECONDS, attackers=attackers, alerted=len(by_ip), missed=len(missed),
           alerted_twice=len(twice), state_errors=metric(m, "lp_state_errors_total"))
    assert metric(m, "lp_state_errors_total") > 0  # the outage really happened under the stream
    assert not missed and not twice, (sorted(missed)[:10], twice)


def _fail_line(ts: int, ip: str) -> bytes:
    return (f"<38>1 2026-12-06T12:{ts // 60 % 60:02d}:{ts % 60:02d}Z web sshd 1 - - "
            f"Failed password for root from {ip} port 22 ssh2\n").encode()


def test_attack_straddling_a_redis_outage_is_alerted_once(tmp_path):
    """Failures counted partly in Redis, partly in the local fallback while Redis is down, partly
    in Redis again: the attacker is still alerted, and only once."""
    redis_srv = PrivateRedis(tmp_path)
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "brute.yaml").write_text(ATTACK_RULE.replace("count: 3", "count: 4"))
    cfg = write_config(tmp_path / "c.toml", data, log_level="warning",
                       log_pipeline=f'enabled = true\nrules_dir = "{rules}"\nsyslog_tcp = "127.0.0.1:{port}"',
                       extra=f'[log_pipeline.storage]\nredis_url = "{redis_srv.url}"')
    d = DaemonProc(cfg, data)

    def processed(n):
        deadline = time.monotonic() + 20
        while metric(metrics(d), "lp_lines_total") < n and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        with connect(port) as s:
            # A: 2 before the outage, 2 during; B: 2 during, 2 after; C: 1 before, 2 during, 1 after
            s.sendall(_fail_line(0, "10.200.9.1") + _fail_line(1, "10.200.9.1") + _fail_line(2, "10.200.9.3"))
            processed(3)
            redis_srv.kill()
            s.sendall(b"".join(_fail_line(3 + i, ip) for i, ip in enumerate(
                ["10.200.9.1", "10.200.9.1", "10.200.9.2", "10.200.9.2", "10.200.9.3", "10.200.9.3"])))
            processed(9)
            redis_srv.start()
            s.sendall(_fail_line(10, "10.200.9.2") + _fail_line(11, "10.200.9.2") + _fail_line(12, "10.200.9.3"))
            processed(12)
            # more failures inside the window after the alert: deduplicated, not a second alert
            s.sendall(b"".join(_fail_line(13 + i, ip) for i, ip in enumerate(["10.200.9.1", "10.200.9.2", "10.200.9.3"] * 2)))
            processed(18)
        time.sleep(1.0)
        m = metrics(d)
        from reliability_support import stored_alerts
        alerts = stored_alerts(data)
    finally:
        d.stop()
        redis_srv.stop()
    by_ip = collections.Counter(a.get("src_ip") or a["group"].get("src_ip") for a in alerts)
    record("redis_outage_straddle", alerts=dict(by_ip), state_errors=metric(m, "lp_state_errors_total"))
    assert metric(m, "lp_state_errors_total") > 0
    assert by_ip == {"10.200.9.1": 1, "10.200.9.2": 1, "10.200.9.3": 1}, by_ip
