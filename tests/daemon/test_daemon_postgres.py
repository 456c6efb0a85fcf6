"""The daemon with [log_pipeline.storage] postgres_url: lines over syslog TCP fire a rule, the
alert lands in PostgreSQL, and `ironpost cli alerts list` reads it back from there."""

import socket
import subprocess
import sys
import time

import orjson
from daemon_support import ROOT, DaemonProc, write_config
from support import free_port
from storage_support import temp_database


def test_alert_from_syslog_tcp_is_stored_in_postgres(tmp_path):
    port = free_port()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "marker.yaml").write_text(
        "id: pg_marker\ntitle: marker seen\nseverity: high\n"
        "detection:\n  conditions:\n    - field: message\n      operator: contains\n      value: PGMARKER\n"
    )
    with temp_database() as url:
        data = tmp_path / "data"
        cfg = write_config(
            tmp_path / "c.toml", data,
            log_pipeline=f'enabled = true\nrules_dir = "{rules}"\nsyslog_tcp = "127.0.0.1:{port}"',
            extra=f'[log_pipeline.storage]\npostgres_url = "{url}"',
        )
        data.mkdir()
        d = DaemonProc(cfg, data)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    conn = socket.create_connection(("127.0.0.1", port), timeout=2)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "syslog TCP listener did not open"
                    time.sleep(0.05)
            with conn:
                for i in range(3):
                    conn.sendall(f"<13>Nov 30 12:00:0{i} web app[1]: request {i} PGMARKER from 10.200.3.{i}\n".encode())
            import psycopg

            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with psycopg.connect(url) as db:
                    n = db.execute("SELECT count(*) FROM ironpost_alerts").fetchone()[0]
                if n == 3:
                    break
                time.sleep(0.1)
            assert n == 3
            r = subprocess.run([sys.executable, "-m", "ironpost", "cli", "alerts", "list", "--json", "--config", str(cfg)],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            rows = [orjson.loads(line) for line in r.stdout.splitlines() if line.strip()]
            assert len(rows) == 3 and {row["rule_id"] for row in rows} == {"pg_marker"}
            assert all(row["severity"] == "high" and "PGMARKER" in row["details"]["message"] for row in rows)
            assert {row["details"]["host"] for row in rows} == {"web"}
            assert all(row["details"]["source"].startswith("tcp://127.0.0.1:") for row in rows), rows[0]["details"]
        finally:
            assert d.stop() == 0
