"""OSV import: folders, zips, YAML and JSON, incremental by `modified`, bad records, severity."""

import json
import shutil
import zipfile

import pytest
import support
from support import SHARED_OSV

from ironpost.sbom.severity import assess
from ironpost.sbom.vulndb import VulnDB, import_osv


def test_import_fixture_folder(fixtures, tmp_path):
    db = tmp_path / "v.sqlite"
    s = import_osv(fixtures / "osv", db)
    assert (s.added, s.updated, s.unchanged, len(s.errors)) == (11, 0, 0, 0)
    assert s.withdrawn == 3 and s.git_ranges == 1
    with VulnDB(db) as v:
        st = v.stats()
        adv = v.advisories(["RUSTSEC-2016-0001", "RUSTSEC-2016-0004", "RUSTSEC-2024-0445", "PYSEC-2014-8"])
    assert st["advisories"] == 11 and st["by_ecosystem"] == {"PyPI": 2, "crates.io": 5, "npm": 4}
    assert adv["RUSTSEC-2016-0001"]["severity"] == "high" and adv["RUSTSEC-2016-0001"]["score"] == 8.1
    assert adv["RUSTSEC-2016-0001"]["aliases"] == ["CVE-2016-10931", "GHSA-34p9-f4q3-c4r7"]
    assert adv["RUSTSEC-2016-0004"]["severity"] == "info" and adv["RUSTSEC-2016-0004"]["informational"] == "unmaintained"
    assert (adv["RUSTSEC-2024-0445"]["severity"], adv["RUSTSEC-2024-0445"]["score"]) == ("low", 2.3)  # CVSS v4 vector
    assert adv["PYSEC-2014-8"]["severity"] == "unknown"


def test_import_is_incremental_by_modified(fixtures, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(fixtures / "osv", src)
    db = tmp_path / "v.sqlite"
    import_osv(src, db)
    again = import_osv(src, db)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 11)

    p = src / "npm" / "IRONPOST-TEST-0001.json"
    doc = json.loads(p.read_text())
    doc["modified"] = "2025-06-01T00:00:00.5Z"
    doc["affected"][0]["ranges"][0]["events"][1]["fixed"] = "4.17.30"
    p.write_text(json.dumps(doc))
    older = src / "npm" / "IRONPOST-TEST-0004.json"
    doc4 = json.loads(older.read_text())
    doc4["modified"] = "2023-01-01T00:00:00Z"  # older than stored: must be ignored
    doc4["affected"][0]["versions"] = ["0.0.1"]
    older.write_text(json.dumps(doc4))
    third = import_osv(src, db)
    assert (third.added, third.updated, third.unchanged) == (0, 1, 10)
    with VulnDB(db) as v:
        rows = v.affected_for([("npm", "lodash"), ("npm", "minimist")])
        assert b"4.17.30" in rows["npm", "lodash"][0][1] and len(rows["npm", "lodash"]) == 1  # replaced, not duplicated
        assert b"1.2.5" in rows["npm", "minimist"][0][1]


def test_fractional_seconds_compare_as_times(tmp_path):
    db = VulnDB(tmp_path / "v.sqlite")
    base = {"id": "T", "affected": [{"package": {"ecosystem": "npm", "name": "x"}, "versions": ["1"]}]}
    db.import_records([("a", dict(base, modified="2021-07-16T01:31:33.917972Z"))])
    s = db.import_records([("b", dict(base, modified="2021-07-16T01:31:33Z"))])  # earlier, though it sorts later as text
    assert s.unchanged == 1 and s.updated == 0


def test_zip_import_and_bad_records(fixtures, tmp_path):
    z = tmp_path / "osv.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in (fixtures / "osv").rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(fixtures / "osv").as_posix())
        zf.writestr("bad/broken.json", "{not json")
        zf.writestr("bad/broken.yaml", "id: [unclosed\n")
        zf.writestr("bad/noid.json", '{"modified": "2024-01-01T00:00:00Z"}')
        zf.writestr("bad/badtime.json", '{"id": "X", "modified": "yesterday"}')
        zf.writestr("README.txt", "not a record")
    s = import_osv(z, tmp_path / "v.sqlite")
    assert s.added == 11 and len(s.errors) == 4
    joined = "\n".join(s.errors)
    assert "broken.json" in joined and "invalid JSON" in joined and "invalid YAML" in joined
    assert "no id" in joined and "RFC 3339" in joined


def test_not_an_osv_source(tmp_path):
    from ironpost.core.errors import SbomError

    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(SbomError, match="not a folder, a zip"):
        import_osv(tmp_path / "x.txt", tmp_path / "v.sqlite")


@pytest.mark.parametrize("record, expected", [
    ({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}, ("critical", 9.8)),
    ({"severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}, ("critical", 9.3)),
    ({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]}, ("low", 1.8)),
    ({"severity": [{"type": "CVSS_V3", "score": "garbage"}], "database_specific": {"severity": "HIGH"}}, ("high", None)),
    ({"affected": [{"ecosystem_specific": {"severity": "MODERATE"}}]}, ("medium", None)),
    ({"affected": [{"database_specific": {"informational": "unsound"}}],
      "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}, ("info", None)),
    ({}, ("unknown", None)),
])
def test_severity(record, expected):
    sev, score, _ = assess(record)
    assert (sev, score) == expected


@pytest.mark.slow
def test_import_whole_shared_osv_folder(tmp_path):
    support.need(SHARED_OSV.is_dir(), f"shared OSV data not found at {SHARED_OSV}")
    s = import_osv(SHARED_OSV, tmp_path / "v.sqlite")
    assert s.added > 3800 and not s.errors and s.git_ranges > 1000
    assert s.seconds < 10, f"import took {s.seconds:.1f} s, goal < 10 s"
    with VulnDB(tmp_path / "v.sqlite") as v:
        st = v.stats()
    assert st["by_ecosystem"]["crates.io"] > 1000 and st["by_ecosystem"]["PyPI"] > 2500
    assert st["by_severity"]["info"] > 400  # RustSec unmaintained/unsound
