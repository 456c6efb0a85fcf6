"""SbomModule in a real event loop with a real bus: alerts only for findings new since the last scan."""

import asyncio

import pytest

from ironpost.core.bus import Bus
from ironpost.core.config import parse_config
from ironpost.core.module import ModuleContext
from ironpost.sbom.module import SbomModule

CRATES = "registry+https://github.com/rust-lang/crates.io-index"


def cargo(*pkgs):
    body = "version = 3\n"
    for name, ver in pkgs:
        body += f'\n[[package]]\nname = "{name}"\nversion = "{ver}"\nsource = "{CRATES}"\n'
    return body


def make(tmp_path, fixture_db, **extra):
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    cfg = parse_config({"general": {"data_dir": str(tmp_path / "data")},
                        "sbom": {"enabled": True, "scan_dirs": [str(proj)], "vulndb_path": str(fixture_db), "min_severity": "info", **extra}},
                       environ={})
    bus = Bus(1000)
    sub = bus.subscribe("alerts", "test")
    ctx = ModuleContext(config=cfg, bus=bus, data_dir=tmp_path / "data")
    return proj, cfg, bus, sub, ctx


def test_alerts_only_for_new_findings_and_persisted(tmp_path, fixture_db):
    async def main():
        proj, cfg, bus, sub, ctx = make(tmp_path, fixture_db)
        (proj / "Cargo.lock").write_text(cargo(("smallvec", "0.6.9")))
        mod = SbomModule(cfg)
        task = asyncio.create_task(mod.run(ctx))
        first = await asyncio.wait_for(sub.get(), 10)
        assert first.source_module == "sbom" and first.rule_id == "sbom:RUSTSEC-2019-0009" and first.severity == "critical"
        assert "CVE-2019-15551" in first.tags and first.details["fixed"] == ["0.6.10"]
        assert first.group["package"] == "smallvec" and b"RUSTSEC-2019-0009" in first.to_json()

        same = await mod.control("scan", {})
        assert same["findings"] == 1 and same["new"] == 0 and sub.qsize() == 0

        (proj / "Cargo.lock").write_text(cargo(("smallvec", "0.6.9"), ("openssl", "0.8.0")))
        more = await mod.control("scan", {})
        assert more["new"] == 1 and sub.get_nowait().rule_id == "sbom:RUSTSEC-2016-0001"
        m = mod.metrics()
        assert m["sbom_scans_total"] == 3 and m["sbom_findings"] == 2 and m["sbom_alerts_total"] == 2
        assert m['sbom_findings_by_severity{severity="high"}'] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        # a restart keeps the seen set: nothing new
        mod2 = SbomModule(cfg)
        mod2._ctx = ctx
        again = await mod2.control("scan", {})
        assert again["new"] == 0 and sub.qsize() == 0

        # upgraded away then back: alerts again
        (proj / "Cargo.lock").write_text(cargo(("smallvec", "1.13.0"), ("openssl", "0.8.0")))
        assert (await mod2.control("scan", {}))["new"] == 0
        (proj / "Cargo.lock").write_text(cargo(("smallvec", "0.6.9"), ("openssl", "0.8.0")))
        assert (await mod2.control("scan", {}))["new"] == 1

    asyncio.run(main())


def test_broken_lockfile_and_missing_db_do_not_kill_the_module(tmp_path, fixture_db):
    async def main():
        proj, cfg, bus, sub, ctx = make(tmp_path, fixture_db)
        (proj / "a").mkdir()
        (proj / "a" / "Cargo.lock").write_text("version = 3\n[[package]\n")
        (proj / "Cargo.lock").write_text(cargo(("smallvec", "0.6.9")))
        mod = SbomModule(cfg)
        mod._ctx = ctx
        s = await mod.control("scan", {})
        assert s["new"] == 1 and len(s["errors"]) == 1 and "a/Cargo.lock:2" in s["errors"][0]
        assert mod.metrics()["sbom_lockfile_errors"] == 1

        _, cfg2, _, _, ctx2 = make(tmp_path, tmp_path / "nope.sqlite")
        mod2 = SbomModule(cfg2)
        task = asyncio.create_task(mod2.run(ctx2))
        await asyncio.sleep(0.3)
        assert not task.done() and mod2.metrics()["sbom_scan_errors_total"] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        bad = await mod2.control("explode", {})
        assert bad["ok"] is False and "unknown sbom control op" in bad["error"]
        missing = await mod2.control("scan", {})
        assert missing["ok"] is False and "db import" in missing["error"]

    asyncio.run(main())


def test_min_severity_filters_alerts(tmp_path, fixture_db):
    async def main():
        proj, cfg, bus, sub, ctx = make(tmp_path, fixture_db, min_severity="critical")
        (proj / "Cargo.lock").write_text(cargo(("smallvec", "0.6.9"), ("openssl", "0.8.0"), ("libusb", "0.2.0")))
        mod = SbomModule(cfg)
        mod._ctx = ctx
        s = await mod.control("scan", {})
        assert s["findings"] == 1 and s["filtered_out"] == 2 and sub.get_nowait().rule_id == "sbom:RUSTSEC-2019-0009"

    asyncio.run(main())


def test_reload_rescans_new_dirs_and_corrupt_db_is_an_error(tmp_path, fixture_db):
    async def main():
        proj, cfg, bus, sub, ctx = make(tmp_path, fixture_db)
        mod = SbomModule(cfg)
        task = asyncio.create_task(mod.run(ctx))
        await asyncio.sleep(0.2)
        assert mod.metrics()["sbom_scans_total"] == 1 and sub.qsize() == 0
        other = tmp_path / "other"
        other.mkdir()
        (other / "Cargo.lock").write_text(cargo(("smallvec", "0.6.9")))
        cfg2 = parse_config({"general": {"data_dir": str(tmp_path / "data")},
                             "sbom": {"scan_dirs": [str(other)], "vulndb_path": str(fixture_db), "min_severity": "info"}}, environ={})
        await mod.reload(cfg2)
        alert = await asyncio.wait_for(sub.get(), 10)
        assert alert.rule_id == "sbom:RUSTSEC-2019-0009" and mod.metrics()["sbom_scans_total"] == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        bad = tmp_path / "corrupt.sqlite"
        bad.write_bytes(b"this is not a database" * 100)
        _, cfg3, _, _, ctx3 = make(tmp_path, bad)
        mod3 = SbomModule(cfg3)
        mod3._ctx = ctx3
        r = await mod3.control("scan", {})
        assert r["ok"] is False and "corrupt.sqlite" in r["error"]

    asyncio.run(main())


@pytest.mark.parametrize("fmt,name,needle", [
    ("cyclonedx", "sbom.cdx.json", b'"bomFormat"'),
    ("spdx", "sbom.spdx.json", b'"spdxVersion"'),
    ("cyclonedx-xml", "sbom.cdx.xml", b"<bom "),
])
def test_each_scan_writes_an_sbom_in_output_format(tmp_path, fixture_db, fmt, name, needle):
    async def main():
        proj, cfg, bus, sub, ctx = make(tmp_path, fixture_db, output_format=fmt)
        (proj / "Cargo.lock").write_text(cargo(("smallvec", "0.6.9"), ("openssl", "0.8.0")))
        mod = SbomModule(cfg)
        mod._ctx = ctx
        await mod.scan_now()
        doc = (tmp_path / "data" / "sbom" / name).read_bytes()
        assert needle in doc and b"smallvec" in doc and b"openssl" in doc
        assert mod.metrics()["sbom_documents_written_total"] == 1
        assert not list((tmp_path / "data" / "sbom").glob("*.tmp"))

    asyncio.run(main())
