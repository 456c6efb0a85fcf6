"""OSV evaluation semantics on hand-written records (npm, crates.io, PyPI, Go)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironpost.sbom.matching import Matcher, _compile, is_affected
from ironpost.sbom.model import Package, make_purl
from ironpost.sbom.versions import pypi_key, semver_key
from ironpost.sbom.vulndb import VulnDB, compact_affected


def rec(rid, eco, name, ranges=None, versions=None, **extra):
    aff = {"package": {"ecosystem": eco, "name": name}}
    if ranges is not None:
        aff["ranges"] = ranges
    if versions is not None:
        aff["versions"] = versions
    return {"id": rid, "modified": "2024-01-01T00:00:00Z", "affected": [aff], **extra}


def sem(*events, rtype="SEMVER"):
    return [{"type": rtype, "events": [dict([e]) for e in events]}]


def hits(tmp_path, records, eco, name, versions):
    db = VulnDB(tmp_path / "v.sqlite")
    db.import_records((r["id"], r) for r in records)
    pkgs = [Package(name, v, eco, make_purl(eco, name, v)) for v in versions]
    findings, stats = Matcher(db).match(pkgs)
    db.close()
    return {f.version for f in findings}, stats


@pytest.mark.parametrize("events, affected, clean", [
    # introduced 0 / fixed
    ([("introduced", "0"), ("fixed", "1.0.2")], ["0.0.1", "1.0.1", "1.0.2-rc.1"], ["1.0.2", "1.0.3", "2.0.0"]),
    # two windows
    ([("introduced", "1.0.0"), ("fixed", "1.0.2"), ("introduced", "3.0.0"), ("fixed", "3.2.5")],
     ["1.0.0", "1.0.1", "3.0.0", "3.2.4"], ["0.9.9", "1.0.2", "2.5.0", "3.2.5", "4.0.0", "3.0.0-beta.1"]),
    # events given out of order are sorted first
    ([("fixed", "3.2.5"), ("introduced", "3.0.0"), ("fixed", "1.0.2"), ("introduced", "1.0.0")], ["1.0.1", "3.1.0"], ["2.0.0", "3.2.5"]),
    # last_affected is inclusive
    ([("introduced", "0"), ("last_affected", "2.1.214")], ["2.1.214", "0.1.0"], ["2.1.215", "2.2.0"]),
    # unfixed
    ([("introduced", "2.0.0")], ["2.0.0", "99.0.0"], ["1.9.9", "2.0.0-alpha"]),
    # pre-release ordering: alpha < alpha.1 < beta < beta.2 < beta.11 < rc.1 < release
    ([("introduced", "1.0.0-beta.2"), ("fixed", "1.0.0-rc.1")], ["1.0.0-beta.2", "1.0.0-beta.11"], ["1.0.0-alpha.1", "1.0.0-beta", "1.0.0-rc.1", "1.0.0"]),
    # build metadata is ignored for ordering
    ([("introduced", "0"), ("fixed", "1.0.0")], ["0.9.0+build.5"], ["1.0.0+build.1"]),
    # limit: only versions below some limit
    ([("introduced", "0"), ("limit", "2.0.0")], ["1.5.0"], ["2.0.0", "3.0.0"]),
    ([("introduced", "0"), ("limit", "*")], ["1.5.0", "9.0.0"], []),
])
def test_npm_semver_ranges(tmp_path, events, affected, clean):
    got, _ = hits(tmp_path, [rec("T-1", "npm", "left-pad", sem(*events))], "npm", "left-pad", affected + clean)
    assert got == set(affected)


def test_versions_list_and_ranges_are_ored(tmp_path):
    r = rec("T-2", "npm", "x", sem(("introduced", "2.0.0"), ("fixed", "2.1.0")), versions=["1.0.0"])
    got, _ = hits(tmp_path, [r], "npm", "x", ["1.0.0", "1.1.0", "2.0.5", "2.1.0"])
    assert got == {"1.0.0", "2.0.5"}


def test_versions_list_matches_unparseable_versions(tmp_path):
    r = rec("T-3", "npm", "x", versions=["git+https://example.invalid/x#abc"])
    got, stats = hits(tmp_path, [r], "npm", "x", ["git+https://example.invalid/x#abc", "not-a-version"])
    assert got == {"git+https://example.invalid/x#abc"} and stats.unparseable_versions == 2


def test_withdrawn_records_are_skipped_and_counted(tmp_path):
    r = rec("T-4", "npm", "x", sem(("introduced", "0")), withdrawn="2024-02-01T00:00:00Z")
    got, stats = hits(tmp_path, [r], "npm", "x", ["1.0.0"])
    assert got == set() and stats.withdrawn_skipped == 1


def test_git_ranges_are_skipped_and_counted(tmp_path):
    ranges = [{"type": "GIT", "repo": "https://example.invalid/r", "events": [{"introduced": "0"}, {"fixed": "a" * 40}]}]
    got, stats = hits(tmp_path, [rec("T-5", "npm", "x", ranges)], "npm", "x", ["1.0.0"])
    assert got == set() and stats.git_ranges_skipped == 1


def test_pypi_ecosystem_ranges_use_pep440(tmp_path):
    r = rec("T-6", "PyPI", "Django", sem(("introduced", "3.2"), ("fixed", "3.2.19"), ("introduced", "4.0a1"), ("fixed", "4.1.9"), rtype="ECOSYSTEM"))
    versions = ["3.1.14", "3.2", "3.2.0", "3.2.18", "3.2.19", "4.0rc1", "4.0", "4.1.8.post1", "4.1.9", "4.2"]
    got, _ = hits(tmp_path, [r], "PyPI", "django", versions)  # name compared in PEP 503 form
    assert got == {"3.2", "3.2.0", "3.2.18", "4.0rc1", "4.0", "4.1.8.post1"}


def test_pypi_versions_list_normalised(tmp_path):
    got, _ = hits(tmp_path, [rec("T-7", "PyPI", "Some_Pkg", versions=["1.0"])], "PyPI", "some-pkg", ["1.0.0", "1.0.1"])
    assert got == {"1.0.0"}


def test_go_versions_with_v_prefix_and_pseudo_versions(tmp_path):
    r = rec("T-8", "Go", "golang.org/x/net", sem(("introduced", "0"), ("fixed", "0.7.0")))
    versions = ["v0.6.0", "v0.0.0-20220722155237-a158d28d115b", "v0.7.0", "v0.17.0+incompatible"]
    got, _ = hits(tmp_path, [r], "Go", "golang.org/x/net", versions)
    assert got == {"v0.6.0", "v0.0.0-20220722155237-a158d28d115b"}


def test_crates_rustsec_style_introduced_zero_prerelease(tmp_path):
    r = rec("T-9", "crates.io", "smallvec", sem(("introduced", "0.0.0-0"), ("fixed", "0.6.10"), ("introduced", "1.0.0"), ("fixed", "1.6.1")))
    got, _ = hits(tmp_path, [r], "crates.io", "smallvec", ["0.0.0", "0.6.9", "0.6.10", "1.0.0", "1.6.0", "1.6.1"])
    assert got == {"0.0.0", "0.6.9", "1.0.0", "1.6.0"}


def test_other_ecosystem_same_name_does_not_match(tmp_path):
    got, _ = hits(tmp_path, [rec("T-10", "PyPI", "lodash", sem(("introduced", "0")))], "npm", "lodash", ["1.0.0"])
    assert got == set()


def test_one_finding_per_advisory_even_with_two_affected_entries(tmp_path):
    r = rec("T-11", "npm", "x", sem(("introduced", "0")))
    r["affected"].append({"package": {"ecosystem": "npm", "name": "x"}, "versions": ["1.0.0"]})
    db = VulnDB(tmp_path / "v.sqlite")
    db.import_records([("r", r)])
    findings, _ = Matcher(db).match([Package("x", "1.0.0", "npm", make_purl("npm", "x", "1.0.0"))])
    assert [f.advisory_id for f in findings] == ["T-11"]


def test_workspace_crates_are_matched_marked_unless_excluded(tmp_path):
    """A workspace crate named like a published one is the shipped code (see test_sbom_workspace)."""
    db = VulnDB(tmp_path / "v.sqlite")
    db.import_records([("r", rec("T-12", "crates.io", "app", sem(("introduced", "0"))))])
    member = Package("app", "0.1.0", "crates.io", "pkg:cargo/app@0.1.0", local=True)
    findings, _ = Matcher(db).match([member])
    assert [(f.advisory_id, f.workspace) for f in findings] == [("T-12", True)]
    findings, stats = Matcher(db, include_workspace=False).match([member])
    assert findings == [] and stats.workspace_crates_excluded == 1


def test_semver_key_ordering_matches_spec():
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"]
    keys = [semver_key(v) for v in order]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert semver_key("v1.2.3") == semver_key("1.2.3") and semver_key("garbage") is None
    assert pypi_key("1.0.post1") > pypi_key("1.0") > pypi_key("1.0rc1") and pypi_key("not a version!") is None


def test_fixture_db_npm_records(fixture_db, fixtures):
    """Hand-written npm records against the real parity lockfile: lodash (fixed), babel (last_affected), withdrawn, versions list."""
    from ironpost.sbom.lockfiles import parse_file

    with VulnDB(fixture_db) as db:
        findings, stats = Matcher(db).match(parse_file(fixtures / "npm-parity" / "package-lock.json"))
    got = {(f.advisory_id, f.package, f.version) for f in findings}
    assert got == {("IRONPOST-TEST-0001", "lodash", "4.17.20"), ("IRONPOST-TEST-0002", "@babel/code-frame", "7.22.13"),
                   ("IRONPOST-TEST-0004", "minimist", "1.2.5")}
    assert stats.withdrawn_skipped == 1 and stats.git_ranges_skipped == 1
    lodash = next(f for f in findings if f.package == "lodash")
    assert lodash.severity == "critical" and lodash.aliases == ["CVE-2099-0001"] and lodash.fixed == ["4.17.21"] and lodash.direct
    assert next(f for f in findings if f.package == "@babel/code-frame").severity == "medium"
    assert next(f for f in findings if f.package == "minimist").severity == "unknown"

VERSIONS = [f"{a}.{b}.{c}{p}" for a in range(3) for b in range(3) for c in range(2) for p in ("", "-rc.1")]
ORDERED = sorted(VERSIONS, key=semver_key)


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(0, len(ORDERED) - 1), min_size=1, max_size=6, unique=True),
       open_end=st.booleans(), last_affected=st.booleans(), perm=st.randoms(use_true_random=False))
def test_ranges_equal_interval_union(cuts, open_end, last_affected, perm):
    """Random non-overlapping windows, events shuffled: OSV evaluation equals plain interval membership."""
    cuts = sorted(cuts)
    if not open_end and len(cuts) % 2:
        cuts = cuts[:-1] or cuts
    pairs = [(cuts[i], cuts[i + 1] if i + 1 < len(cuts) else None) for i in range(0, len(cuts), 2)]
    events = []
    for lo, hi in pairs:
        events.append(("introduced", ORDERED[lo]))
        if hi is not None:
            events.append(("last_affected" if last_affected else "fixed", ORDERED[hi]))
    perm.shuffle(events)
    aff = {"ranges": [{"type": "SEMVER", "events": [{k: v} for k, v in events]}]}
    compiled = _compile("npm", "T", compact_affected(aff)[0])

    def expected(i):
        for lo, hi in pairs:
            if hi is None and i >= lo:
                return True
            if hi is not None and lo <= i and (i <= hi if last_affected else i < hi):
                return True
        return False

    for i, v in enumerate(ORDERED):
        assert is_affected(v, semver_key(v), compiled) == expected(i), (v, events)
