import tomllib
from pathlib import Path

import pytest

from ironpost.core.config import load_config, parse_config, redact
from ironpost.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def problems_of(text: str, environ=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), text=text, environ=environ or {})
    return info.value.problems


# Each invalid config with the words its message must contain.
INVALID = [
    ('[general]\nlog_level = "verbose"\n', ["line 2", "general.log_level", "one of", "'verbose'"]),
    ('[general]\nlog_format = "yaml"\n', ["general.log_format", "'json', 'pretty'", "'yaml'"]),
    ('[general]\nlog_levl = "info"\n', ["general.log_levl: unknown key", "did you mean general.log_level"]),
    ('[genral]\n', ["[genral]: unknown section", "did you mean [general]"]),
    ('[general]\nbus_capacity = 0\n', ["general.bus_capacity", ">= 16", "found 0", "out of range"]),
    ('[general]\nbus_capacity = "many"\n', ["general.bus_capacity", "an integer", "'many'"]),
    ('[general]\nshutdown_timeout_secs = -1\n', ["general.shutdown_timeout_secs", ">= 0.1"]),
    ('[general]\nhttp_listen = "localhost"\n', ["general.http_listen", "host:port", "'localhost'"]),
    ('[general]\nhttp_listen = "127.0.0.1:99999"\n', ["general.http_listen", "not host:port"]),
    ('[ebpf]\nenabled = "yes please"\n', ["ebpf.enabled", "true or false"]),
    ('[ebpf]\nxdp_mode = "turbo"\n', ["ebpf.xdp_mode", "'skb', 'native', 'hw'", "'turbo'"]),
    ('[ebpf]\nblocklist = ["10.0.0.0/8", "not-an-ip"]\n', ["ebpf.blocklist", "'not-an-ip' is not an IP address or CIDR"]),
    ('[ebpf]\nblocklist = "10.0.0.1"\n', []),  # a string is accepted as a comma list (see test below): not invalid
    ('[log_pipeline]\nmax_line_bytes = 1000000\n', ["log_pipeline.max_line_bytes", "<= 65536"]),
    ('[log_pipeline]\nfiles = "/var/log/*.log"\n', []),
    ('[log_pipeline]\nfiles = [1, 2]\n', ["log_pipeline.files", "a list of strings"]),
    ('[log_pipeline.storage]\npostgres_url = "localhost:5432"\n', ["log_pipeline.storage.postgres_url", "missing scheme"]),
    ('[log_pipeline.storage]\nretention_days = 0\n', ["log_pipeline.storage.retention_days", ">= 1"]),
    ('[log_pipeline.storge]\n', ["[log_pipeline.storge]: unknown section", "did you mean [log_pipeline.storage]"]),
    ('[sbom]\nmin_severity = "severe"\n', ["sbom.min_severity", "'critical'"]),
    ('[sbom]\nscan_interval_secs = 1\n', ["sbom.scan_interval_secs", ">= 10"]),
    ('[container]\nauto_isolate = 1\n', ["container.auto_isolate", "true or false", "found 1"]),
    ('debug = true\n', ["debug: unknown top-level key"]),
]


@pytest.mark.parametrize("text,needles", [c for c in INVALID if c[1]], ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_config_message(text, needles):
    problems = problems_of(text)
    joined = "\n".join(problems)
    for needle in needles:
        assert needle in joined, f"{needle!r} not in {joined!r}"


def test_at_least_fifteen_invalid_cases():
    assert len([c for c in INVALID if c[1]]) >= 15


def test_every_problem_reported_at_once():
    text = '[general]\nlog_level = "loud"\nlog_format = "xml"\n[ebpf]\nxdp_mode = "x"\n[nope]\n'
    problems = problems_of(text)
    assert len(problems) == 4
    assert problems[0].startswith("line 2: ")
    assert problems[1].startswith("line 3: ")
    assert problems[2].startswith("line 5: ")


def test_list_accepts_comma_string():
    cfg = parse_config({"ebpf": {"blocklist": "10.0.0.1, 10.1.0.0/16"}}, environ={})
    assert cfg.ebpf.blocklist == ["10.0.0.1", "10.1.0.0/16"]


def test_defaults_without_file():
    cfg = parse_config({}, environ={})
    assert cfg.general.log_level == "info"
    assert cfg.section("log_pipeline.storage").retention_days == 30
    assert cfg.resolve_path("log_pipeline.storage", "sqlite_path", "ironpost.db") == Path("/var/lib/ironpost/ironpost.db")


def test_env_overrides_file_and_coerces_types():
    env = {
        "IRONPOST_GENERAL_LOG_LEVEL": "debug",
        "IRONPOST_GENERAL_BUS_CAPACITY": "2048",
        "IRONPOST_EBPF_ENABLED": "true",
        "IRONPOST_LOG_PIPELINE_STORAGE_RETENTION_DAYS": "7",
        "IRONPOST_LOG_PIPELINE_FILES": "/var/log/auth.log,/var/log/syslog",
        "IRONPOST_NO_EXTENSIONS": "1",  # not a config key: ignored
        "PATH": "/bin",
    }
    cfg = parse_config({"general": {"log_level": "warning"}}, environ=env)
    assert cfg.general.log_level == "debug"
    assert cfg.general.bus_capacity == 2048
    assert cfg.ebpf.enabled is True
    assert cfg.section("log_pipeline.storage").retention_days == 7
    assert cfg.log_pipeline.files == ["/var/log/auth.log", "/var/log/syslog"]


def test_bad_env_override_names_the_variable():
    problems = problems_of("", {"IRONPOST_GENERAL_BUS_CAPACITY": "lots", "IRONPOST_BOGUS_KEY": "1", "IRONPOST_SBOM_ENABLD": "1"})
    joined = "\n".join(problems)
    assert "IRONPOST_GENERAL_BUS_CAPACITY: general.bus_capacity: expected an integer" in joined
    assert "IRONPOST_BOGUS_KEY: no config section matches" in joined
    assert "sbom.enabld: unknown key (did you mean sbom.enabled?)" in joined


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[general\nlog_level = 'x'\n")
    with pytest.raises(ConfigError, match="invalid TOML.*line 1"):
        load_config(bad, environ={})


def test_example_config_is_valid():
    cfg = load_config(ROOT / "ironpost.toml.example", environ={})
    assert cfg.general.http_listen == "127.0.0.1:9469"
    cfg = load_config(ROOT / "packaging" / "ironpost.local.toml", environ={})
    assert cfg.general.data_dir == ".ironpost"


def test_redaction_hides_passwords_only():
    cfg = parse_config(
        {"log_pipeline": {"storage": {"postgres_url": "postgresql://ip:s3cret@db:5432/ironpost", "redis_url": "redis://127.0.0.1:6379/0"}}},
        environ={},
    )
    shown = redact(cfg.as_dict())["log_pipeline.storage"]
    assert shown["postgres_url"] == "postgresql://ip:***@db:5432/ironpost"
    assert "s3cret" not in str(shown)
    assert shown["redis_url"] == "redis://127.0.0.1:6379/0"
    assert cfg.section("log_pipeline.storage").postgres_url.endswith("s3cret@db:5432/ironpost")
