"""Workspace crates (Cargo.lock members without `source`) named like a published crate are the
project's own shipped code: matched against that crate's advisories and marked "workspace crate",
unless excluded (sbom.include_workspace_crates = false, --exclude-workspace-crates). Real RustSec
records: RUSTSEC-2022-0013 (regex < 1.5.5) hits the regex workspace's own `regex` 1.3.4."""

import json
import time

import pytest
from typer.testing import CliRunner

import support
from ironpost.cli.scan import app as scan_app
from ironpost.sbom.matching import Matcher
from ironpost.sbom.model import Package, make_purl
from ironpost.sbom.scan import scan
from ironpost.sbom.vulndb import VulnDB, import_osv

runner = CliRunner()


@pytest.fixture
def ws_db(tmp_path, fixtures):
    db = tmp_path / "ws.sqlite"
    assert not import_osv(fixtures / "osv-workspace", db).errors
    return db


@pytest.fixture
def lockfile(fixtures):
    return fixtures / "cargo-workspace-2020" / "Cargo.lock"


def found(res):
    return {(f.advisory_id, f.package, f.version, f.workspace) for f in res.findings}


def test_workspace_crate_with_a_published_name_is_reported_and_marked(ws_db, lockfile):
    res = scan([lockfile], ws_db)
    assert found(res) == {("RUSTSEC-2022-0013", "regex", "1.3.4", True),
                          ("RUSTSEC-2022-0006", "thread_local", "1.0.1", False)}
    assert res.stats.workspace_crates_excluded == 0 and res.summary()["workspace_crates_excluded"] == 0


def test_workspace_crates_can_be_excluded_and_are_counted(ws_db, lockfile):
    res = scan([lockfile], ws_db, include_workspace=False)
    assert found(res) == {("RUSTSEC-2022-0006", "thread_local", "1.0.1", False)}
    # regex, regex-capi, regex-syntax: the three members of the workspace
    assert res.summary()["workspace_crates_excluded"] == 3


def test_only_cargo_members_are_matched_by_name(tmp_path):
    """An npm workspace folder or root project named like a package is not a claim on that registry name."""
    rec = {"id": "IRONPOST-TEST-WS", "modified": "2024-01-01T00:00:00Z",
           "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                         "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]}
    with VulnDB(tmp_path / "v.sqlite") as db:
        db.import_records([(rec["id"], rec)])
        local = Package("left-pad", "1.0.0", "npm", make_purl("npm", "left-pad", "1.0.0"), local=True)
        fetched = Package("left-pad", "1.0.0", "npm", make_purl("npm", "left-pad", "1.0.0"))
        assert Matcher(db).match([local])[0] == []
        assert [f.workspace for f in Matcher(db).match([fetched])[0]] == [False]


def test_cli_marks_and_excludes(tmp_path, ws_db, lockfile, monkeypatch):
    monkeypatch.delenv("IRONPOST_CONFIG", raising=False)
    monkeypatch.setenv("IRONPOST_GENERAL_DATA_DIR", str(tmp_path / "data"))
    base = ["sbom", "--dir", str(lockfile), "--db", str(ws_db), "--min-severity", "unknown"]
    r = runner.invoke(scan_app, [*base, "--format", "json"])
    assert r.exit_code == 0, r.output
    by_id = {f["advisory_id"]: f for f in json.loads(r.stdout)["findings"]}
    assert by_id["RUSTSEC-2022-0013"]["workspace"] is True and by_id["RUSTSEC-2022-0006"]["workspace"] is False

    r = runner.invoke(scan_app, [*base, "--format", "table"], env={"COLUMNS": "250"})
    regex_rows = [ln for ln in r.stdout.splitlines() if "RUSTSEC-2022-0013" in ln]
    assert len(regex_rows) == 1 and "workspace crate" in regex_rows[0]
    assert "workspace crate" not in next(ln for ln in r.stdout.splitlines() if "RUSTSEC-2022-0006" in ln)

    sarif = json.loads(runner.invoke(scan_app, [*base, "--format", "sarif"]).stdout)
    msgs = {x["ruleId"]: x["message"]["text"] for x in sarif["runs"][0]["results"]}
    assert "workspace crate" in msgs["RUSTSEC-2022-0013"] and "workspace crate" not in msgs["RUSTSEC-2022-0006"]

    r = runner.invoke(scan_app, [*base, "--format", "json", "--exclude-workspace-crates"])
    doc = json.loads(r.stdout)
    assert [f["advisory_id"] for f in doc["findings"]] == ["RUSTSEC-2022-0006"]
    assert doc["summary"]["workspace_crates_excluded"] == 3

    cfg = tmp_path / "ironpost.toml"
    cfg.write_text("[sbom]\ninclude_workspace_crates = false\n")
    r = runner.invoke(scan_app, [*base, "--format", "json", "--config", str(cfg)])
    assert [f["advisory_id"] for f in json.loads(r.stdout)["findings"]] == ["RUSTSEC-2022-0006"]
    # the flag wins over the config
    r = runner.invoke(scan_app, [*base, "--format", "json", "--config", str(cfg), "--include-workspace-crates"])
    assert {f["advisory_id"] for f in json.loads(r.stdout)["findings"]} == {"RUSTSEC-2022-0006", "RUSTSEC-2022-0013"}


def test_against_the_whole_rustsec_export(tmp_path, lockfile):
    """The full RustSec OSV export (../shared/data/osv/crates.io): the workspace's own regex is caught."""
    src = support.SHARED_OSV / "crates.io"
    support.need(src.is_dir(), f"RustSec OSV export not found at {src}")
    db = tmp_path / "rustsec.sqlite"
    t0 = time.monotonic()
    stats = import_osv(src, db)
    assert not stats.errors and stats.added > 1000, stats
    res = scan([lockfile], db)
    assert ("RUSTSEC-2022-0013", "regex", "1.3.4", True) in found(res)
    assert ("RUSTSEC-2022-0006", "thread_local", "1.0.1", False) in found(res)
    assert not any(f.workspace for f in res.findings if f.package != "regex")
    excluded = scan([lockfile], db, include_workspace=False)
    assert found(excluded) == {x for x in found(res) if not x[3]}
    assert time.monotonic() - t0 < 120
