import pytest

from ironpost.core.config import parse_config
from ironpost.core.errors import ConfigError


def test_sbom_defaults_and_env_overrides():
    cfg = parse_config({}, environ={})
    s = cfg.section("sbom")
    assert (s.enabled, s.scan_interval_secs, s.min_severity, s.show_unknown, s.vulndb_path) == (False, 3600, "medium", True, "")
    assert cfg.resolve_path("sbom", "vulndb_path", "vulndb.sqlite").name == "vulndb.sqlite"
    cfg = parse_config({"sbom": {"scan_dirs": ["/srv"]}}, environ={"IRONPOST_SBOM_MIN_SEVERITY": "high", "IRONPOST_SBOM_SHOW_UNKNOWN": "false"})
    s = cfg.section("sbom")
    assert (s.min_severity, s.show_unknown, s.scan_dirs) == ("high", False, ["/srv"])


def test_sbom_bad_values_are_reported_together():
    with pytest.raises(ConfigError) as ei:
        parse_config({"sbom": {"min_severity": "severe", "scan_interval_secs": 1, "scan_dir": []}}, environ={})
    text = str(ei.value)
    assert "sbom.min_severity" in text and "sbom.scan_interval_secs" in text and "scan_dirs" in text
