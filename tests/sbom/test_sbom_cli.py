"""The scan, db and sbom CLI groups through typer's CliRunner."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from ironpost.cli.db import app as db_app
from ironpost.cli.sbom import app as sbom_app
from ironpost.cli.scan import app as scan_app

runner = CliRunner()


@pytest.fixture
def project(tmp_path, fixtures):
    d = tmp_path / "proj"
    shutil.copytree(fixtures / "npm-parity", d / "web")
    (d / "svc").mkdir()
    (d / "svc" / "Cargo.lock").write_text(
        'version = 3\n\n[[package]]\nname = "svc"\nversion = "0.1.0"\ndependencies = ["smallvec", "libusb"]\n\n'
        '[[package]]\nname = "smallvec"\nversion = "0.6.9"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n\n'
        '[[package]]\nname = "libusb"\nversion = "0.3.0"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n')
    return d


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("IRONPOST_GENERAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IRONPOST_CONFIG", raising=False)
    return tmp_path / "data"


def test_db_import_and_stats(env, fixtures):
    r = runner.invoke(db_app, ["import", str(fixtures / "osv")])
    assert r.exit_code == 0, r.output
    assert "11 added" in r.stdout and (env / "vulndb.sqlite").exists()
    r = runner.invoke(db_app, ["import", str(fixtures / "osv"), "--json"])
    assert json.loads(r.stdout)["unchanged"] == 11
    r = runner.invoke(db_app, ["stats", "--json"])
    s = json.loads(r.stdout)
    assert r.exit_code == 0 and s["advisories"] == 11 and s["by_ecosystem"]["npm"] == 4


def test_db_errors_exit_codes(env, tmp_path):
    assert runner.invoke(db_app, ["import", str(tmp_path / "missing")]).exit_code == 2
    r = runner.invoke(db_app, ["stats"])
    assert r.exit_code == 2 and "db import" in r.output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.json").write_text("{")
    r = runner.invoke(db_app, ["import", str(bad)])
    assert r.exit_code == 1 and "invalid JSON" in r.output


def test_scan_json_findings(env, fixtures, project):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project), "--format", "json", "--min-severity", "unknown"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    by_id = {f["advisory_id"]: f for f in doc["findings"]}
    assert set(by_id) == {"IRONPOST-TEST-0001", "IRONPOST-TEST-0002", "IRONPOST-TEST-0004", "RUSTSEC-2019-0009", "RUSTSEC-2016-0004"}
    f = by_id["RUSTSEC-2019-0009"]
    assert f["ecosystem"] == "crates.io" and f["package"] == "smallvec" and f["version"] == "0.6.9"
    assert f["severity"] == "critical" and f["fixed_versions"] == ["0.6.10"] and "CVE-2019-15551" in f["aliases"]
    assert f["lockfile"].endswith("svc/Cargo.lock")
    assert by_id["RUSTSEC-2016-0004"]["severity"] == "info"
    assert doc["summary"]["lockfiles"] == 2 and doc["errors"] == []


def test_scan_min_severity_and_unknown(env, fixtures, project):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project), "--format", "json", "--min-severity", "high"])
    ids = {f["advisory_id"] for f in json.loads(r.stdout)["findings"]}
    assert ids == {"IRONPOST-TEST-0001", "RUSTSEC-2019-0009", "IRONPOST-TEST-0004"}  # unknown is still shown
    # config default is medium; show_unknown = false hides unscored advisories
    cfg = env.parent / "ironpost.toml"
    cfg.write_text("[sbom]\nmin_severity = \"medium\"\nshow_unknown = false\n")
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project), "--format", "json", "--config", str(cfg)])
    ids = {f["advisory_id"] for f in json.loads(r.stdout)["findings"]}
    assert ids == {"IRONPOST-TEST-0001", "IRONPOST-TEST-0002", "RUSTSEC-2019-0009"}


def test_scan_fail_on_exit_codes(env, fixtures, project):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project), "--fail-on", "high", "--format", "json"])
    assert r.exit_code == 1 and "at or above high" in r.output
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project / "web"), "--fail-on", "critical", "--exclude", "*", "--format", "json"])
    assert r.exit_code == 0
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project), "--fail-on", "severe"])
    assert r.exit_code == 2


def test_scan_table_and_broken_lockfile(env, fixtures, project):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    (project / "broken").mkdir()
    (project / "broken" / "Cargo.lock").write_text("version = 3\n[[package]\nname='x'\n")
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project), "--output", str(env.parent / "out.txt")])
    text = (env.parent / "out.txt").read_text()
    assert "RUSTSEC-2019-0009" in text and "smallvec" in text and "findings" in text
    assert r.exit_code == 1 and "broken/Cargo.lock:2" in r.output  # other lockfiles still scanned


def test_scan_without_db_is_a_setup_error(env, project):
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project)])
    assert r.exit_code == 2 and "db import" in r.output


def test_scan_sarif_shape(env, fixtures, project):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project), "--format", "sarif", "--min-severity", "unknown"])
    s = json.loads(r.stdout)
    assert s["version"] == "2.1.0" and s["$schema"].endswith("sarif-2.1.0.json")
    run = s["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "ironpost" and len(rules) == len({r["id"] for r in rules}) == 5
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri in ("svc/Cargo.lock", "web/package-lock.json")
        assert res["message"]["text"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["RUSTSEC-2019-0009"]["level"] == "error"
    assert float(next(r for r in rules if r["id"] == "RUSTSEC-2019-0009")["properties"]["security-severity"]) == 9.8


def test_help_has_examples():
    for app, cmd in ((scan_app, ["sbom", "--help"]), (db_app, ["import", "--help"]), (db_app, ["stats", "--help"]), (sbom_app, ["generate", "--help"])):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 0 and "Example" in r.stdout


def test_scan_python_project_against_pypa_fixture(env, fixtures, tmp_path):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    proj = tmp_path / "py"
    proj.mkdir()
    (proj / "requirements.txt").write_text("Jinja2==2.7.1\narrayfire==3.1.20151111\n")
    r = runner.invoke(scan_app, ["sbom", "--dir", str(proj), "--format", "json", "--min-severity", "unknown"])
    found = {(f["advisory_id"], f["package"]) for f in json.loads(r.stdout)["findings"]}
    assert found == {("PYSEC-2014-8", "Jinja2")}  # PYSEC-2019-144 (arrayfire) is withdrawn
    assert json.loads(r.stdout)["summary"]["withdrawn_skipped"] == 1


def test_scan_progress_goes_to_stderr(env, fixtures, project):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project), "--format", "json", "--progress"])
    assert json.loads(r.stdout)["summary"]["lockfiles"] == 2  # stdout stays parseable


def test_scan_against_full_shared_database(tmp_path, fixtures, monkeypatch):
    import support
    from support import SHARED_OSV

    support.need(SHARED_OSV.is_dir(), f"shared OSV data not found at {SHARED_OSV}")
    db = tmp_path / "full.sqlite"
    assert runner.invoke(db_app, ["import", str(SHARED_OSV), "--db", str(db)]).exit_code == 0
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "Cargo.lock").write_text('version = 3\n\n[[package]]\nname = "smallvec"\nversion = "0.6.9"\n'
                                     'source = "registry+https://github.com/rust-lang/crates.io-index"\n')
    (proj / "requirements.txt").write_text("jinja2==2.10\n")
    r = runner.invoke(scan_app, ["sbom", "--dir", str(proj), "--db", str(db), "--format", "json", "--min-severity", "unknown"])
    ids = {f["advisory_id"] for f in json.loads(r.stdout)["findings"]}
    assert {"RUSTSEC-2019-0009", "RUSTSEC-2019-0012", "RUSTSEC-2021-0003"} <= ids
    assert any(i.startswith("PYSEC-") for i in ids)


def test_sarif_for_a_single_lockfile_uses_file_uris(env, fixtures, project):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    r = runner.invoke(scan_app, ["sbom", "--dir", str(project / "svc" / "Cargo.lock"), "--format", "sarif", "--min-severity", "unknown"])
    uris = {res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for res in json.loads(r.stdout)["runs"][0]["results"]}
    assert uris == {(project / "svc" / "Cargo.lock").resolve().as_uri()}


def test_fail_on_and_unscored_findings(env, fixtures, tmp_path):
    runner.invoke(db_app, ["import", str(fixtures / "osv")])
    proj = tmp_path / "unscored"
    proj.mkdir()
    (proj / "requirements.txt").write_text("jinja2==2.7.1\n")  # PYSEC-2014-8 has no score
    args = ["sbom", "--dir", str(proj), "--format", "json"]
    assert runner.invoke(scan_app, [*args, "--fail-on", "low"]).exit_code == 0
    r = runner.invoke(scan_app, [*args, "--fail-on", "unknown"])
    assert r.exit_code == 1 and "1 findings at or above unknown" in r.output
