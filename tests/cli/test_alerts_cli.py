"""`cli alerts list` on SQLite and PostgreSQL through typer's CliRunner."""

import time
from datetime import datetime, timezone

import orjson
import pytest
from typer.testing import CliRunner

from storage_support import temp_database
from ironpost.cli.alerts import app, parse_since
from ironpost.core.events import AlertEvent
from ironpost.storage.postgres import PostgresStore
from ironpost.storage.sqlite import SqliteStore

runner = CliRunner()
NOW = time.time()


@pytest.mark.parametrize("text,ago", [
    ("1 hour ago", 3600), ("30m", 1800), ("2d", 172800), ("90s", 90), ("1h30m", 5400),
    ("1 day, 2 hours ago", 93600), ("2 weeks ago", 1209600), ("1.5h", 5400), ("now", 0), ("10 minutes", 600),
])
def test_parse_durations(text, ago):
    assert parse_since(text, now=1000000.0) == pytest.approx(1000000.0 - ago)


def test_parse_iso_timestamps():
    assert parse_since("2026-11-30T12:00:00Z") == datetime(2026, 11, 30, 12, tzinfo=timezone.utc).timestamp()
    assert parse_since("2026-11-30T12:00:00+01:00") == datetime(2026, 11, 30, 11, tzinfo=timezone.utc).timestamp()
    assert parse_since("2026-11-30") == datetime(2026, 11, 30).timestamp()  # naive: local time


@pytest.mark.parametrize("bad", ["yesterday-ish", "5 parsecs ago", "", "1h 2x", "ago"])
def test_parse_rejects_garbage(bad):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_since(bad)


def seed(store):
    store.migrate()
    rows = [
        AlertEvent(rule_id="ssh_brute_force", title="SSH brute force", severity="high", src_ip="203.0.113.7", count=7, timestamp=NOW - 600),
        AlertEvent(rule_id="sudo_fail", title="sudo auth failure", severity="medium", timestamp=NOW - 300),
        AlertEvent(rule_id="root_login", title="root login", severity="critical", src_ip="198.51.100.2", timestamp=NOW - 60),
        AlertEvent(rule_id="old", title="old one", severity="critical", timestamp=NOW - 7200),
    ]
    store.write_alerts(rows)
    store.close()
    return rows


def write_config(tmp_path, extra=""):
    cfg = tmp_path / "ironpost.toml"
    cfg.write_text(f'[general]\ndata_dir = "{tmp_path / "data"}"\n{extra}')
    return cfg


def check_cli(cfg, rows):
    res = runner.invoke(app, ["list", "--since", "1 hour ago", "--severity", "high", "--json", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    got = [orjson.loads(line) for line in res.stdout.splitlines()]
    assert [g["rule_id"] for g in got] == ["root_login", "ssh_brute_force"]  # newest first, old and medium left out
    assert got[1]["src_ip"] == "203.0.113.7" and got[1]["count"] == 7

    res = runner.invoke(app, ["list", "--limit", "2", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "root_login" in res.stdout and "sudo_fail" in res.stdout and "ssh_brute_force" not in res.stdout
    assert "198.51.100.2" in res.stdout

    res = runner.invoke(app, ["list", "--since", "10s", "--config", str(cfg)])
    assert res.exit_code == 0 and "no alerts" in res.stdout


def test_list_from_sqlite(tmp_path):
    cfg = write_config(tmp_path)
    rows = seed(SqliteStore(tmp_path / "data" / "ironpost.db"))
    check_cli(cfg, rows)


def test_list_from_postgres(tmp_path):
    with temp_database() as url:
        cfg = write_config(tmp_path, f'[log_pipeline.storage]\npostgres_url = "{url}"\n')
        rows = seed(PostgresStore(url))
        check_cli(cfg, rows)


def test_usage_and_store_errors_have_exit_codes(tmp_path):
    cfg = write_config(tmp_path)
    res = runner.invoke(app, ["list", "--since", "soon", "--config", str(cfg)])
    assert res.exit_code == 2 and "--since" in res.output
    res = runner.invoke(app, ["list", "--severity", "urgent", "--config", str(cfg)])
    assert res.exit_code == 2 and "expected one of" in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[log_pipeline.storage]\nbatch_sise = 3\n")
    res = runner.invoke(app, ["list", "--config", str(bad)])
    assert res.exit_code == 2 and "batch_size" in res.output  # the typo's suggestion
    (tmp_path / "x").mkdir()
    down = write_config(tmp_path / "x", '[log_pipeline.storage]\npostgres_url = "postgresql://postgres@127.0.0.1:1/none"\n')
    res = runner.invoke(app, ["list", "--config", str(down)])
    assert res.exit_code == 1 and "PostgreSQL" in res.output


def test_help_has_an_example():
    res = runner.invoke(app, ["list", "--help"])
    assert res.exit_code == 0 and "Example:" in res.stdout and "--since" in res.stdout
