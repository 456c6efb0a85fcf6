import pytest

from ironpost.core.config import parse_config
from ironpost.core.errors import ConfigError
from ironpost.sbom.paths import vulndb_path


def test_sbom_defaults_and_env_overrides():
    cfg = parse_config({}, environ={})
    s = cfg.section("sbom")
    assert (s.enabled, s.scan_interval_secs, s.min_severity, s.show_unknown, s.vuln_db_path) == (False, 3600, "medium", True, "")
    assert vulndb_path(cfg) == cfg.data_dir / "vulndb.sqlite"
    cfg = parse_config({"sbom": {"scan_dirs": ["/srv"]}}, environ={"IRONPOST_SBOM_MIN_SEVERITY": "high", "IRONPOST_SBOM_SHOW_UNKNOWN": "false"})
    s = cfg.section("sbom")
    assert (s.min_severity, s.show_unknown, s.scan_dirs) == ("high", False, ["/srv"])


def test_sbom_bad_values_are_reported_together():
    with pytest.raises(ConfigError) as ei:
        parse_config({"sbom": {"min_severity": "severe", "scan_interval_secs": 1, "scan_dir": []}}, environ={})
    text = str(ei.value)
    assert "sbom.min_severity" in text and "sbom.scan_interval_secs" in text and "scan_dirs" in text


@pytest.mark.parametrize("value,expected", [
    ("/var/lib/ironpost/vuln-db", "/var/lib/ironpost/vuln-db/vulndb.sqlite"),  # the seed's directory form
    ("/srv/osv.sqlite", "/srv/osv.sqlite"),  # a database file (our earlier vulndb_path)
    ("/srv/osv.db", "/srv/osv.db"),
])
def test_vuln_db_path_is_a_directory_or_a_file(value, expected):
    for key in ("vuln_db_path", "vulndb_path"):
        cfg = parse_config({"sbom": {key: value}}, environ={})
        assert cfg.section("sbom").vuln_db_path == value
        assert str(vulndb_path(cfg)) == expected


def test_vuln_db_path_existing_file_without_suffix(tmp_path):
    f = tmp_path / "osvdb"
    f.write_bytes(b"")
    assert vulndb_path(parse_config({"sbom": {"vuln_db_path": str(f)}}, environ={})) == f
    assert vulndb_path(parse_config({"sbom": {"vuln_db_path": str(tmp_path)}}, environ={})) == tmp_path / "vulndb.sqlite"
