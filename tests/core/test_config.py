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
    assert cfg.log_pipeline.watch_paths == ["/var/log/auth.log", "/var/log/syslog"]  # set through the alias "files"


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


# ---- aliases: our earlier names and the seed's names are one setting each ------------------------

@pytest.mark.parametrize("section,alias,value,canonical,stored", [
    ("ebpf", "ringbuf_pages", 64, "ring_buffer_size", 64 * 4096),
    ("container", "docker_host", "unix:///run/docker.sock", "docker_socket", "/run/docker.sock"),
    ("container", "docker_host", "tcp://10.0.0.5:2376", "docker_socket", "tcp://10.0.0.5:2376"),
    ("container", "inventory_ttl_secs", 12.5, "poll_interval_secs", 12.5),
    ("sbom", "vulndb_path", "/srv/vulndb.sqlite", "vuln_db_path", "/srv/vulndb.sqlite"),
    ("log_pipeline", "files", ["/var/log/auth.log"], "watch_paths", ["/var/log/auth.log"]),
])
def test_alias_is_stored_under_the_canonical_name(section, alias, value, canonical, stored):
    from ironpost.cli.config import render_show

    cfg = parse_config({section: {alias: value}}, environ={})
    table = cfg.as_dict()[section]
    assert table[canonical] == stored and alias not in table
    shown = render_show(cfg)
    assert f"\n{canonical} = " in shown and f"\n{alias} = " not in shown


def test_storage_batch_size_is_an_alias_of_log_pipeline_batch_size():
    cfg = parse_config({"log_pipeline": {"storage": {"batch_size": 77}}}, environ={})
    assert cfg.log_pipeline.batch_size == 77 and "batch_size" not in cfg.as_dict()["log_pipeline.storage"]


def test_alias_through_the_environment():
    cfg = parse_config({}, environ={"IRONPOST_EBPF_RINGBUF_PAGES": "128", "IRONPOST_CONTAINER_DOCKER_HOST": "unix:///d.sock"})
    assert cfg.ebpf.ring_buffer_size == 128 * 4096 and cfg.container.docker_socket == "/d.sock"


def test_alias_keeps_its_own_checks_and_names_itself():
    joined = "\n".join(problems_of('[ebpf]\nringbuf_pages = 3\n'))
    assert "line 2: ebpf.ringbuf_pages" in joined and "power of two" in joined
    joined = "\n".join(problems_of('[ebpf]\nring_buffer_size = 1000\n'))
    assert "ebpf.ring_buffer_size" in joined and ">= 4096" in joined


def test_both_spellings_in_one_file_is_an_error():
    joined = "\n".join(problems_of('[ebpf]\nring_buffer_size = 262144\nringbuf_pages = 64\n'))
    assert "ebpf.ringbuf_pages: same setting as ebpf.ring_buffer_size; keep only ebpf.ring_buffer_size" in joined
    joined = "\n".join(problems_of('[log_pipeline]\nbatch_size = 10\n[log_pipeline.storage]\nbatch_size = 20\n'))
    assert "log_pipeline.storage.batch_size: same setting as log_pipeline.batch_size" in joined


def test_env_overrides_a_file_value_given_under_the_other_name():
    cfg = parse_config({"ebpf": {"ringbuf_pages": 64}}, environ={"IRONPOST_EBPF_RING_BUFFER_SIZE": "8192"})
    assert cfg.ebpf.ring_buffer_size == 8192


@pytest.mark.parametrize("text,hint", [
    ('[log_pipeline]\nbatch_sise = 5\n', "did you mean log_pipeline.batch_size?"),
    ('[log_pipeline]\nwatch_path = []\n', "did you mean log_pipeline.watch_paths?"),
    ('[ebpf]\nring_buffer_sise = 4096\n', "did you mean ebpf.ring_buffer_size?"),
    ('[ebpf]\nringbuf_page = 64\n', "did you mean ebpf.ringbuf_pages?"),  # aliases are candidates too
    ('[container]\ndocker_sock = "/x"\n', "did you mean container.docker_socket?"),
    ('[sbom]\noutput_fromat = "spdx"\n', "did you mean sbom.output_format?"),
    # a key of another section: say where it lives
    ('[general]\nretention_dayz = 3\n', "did you mean log_pipeline.storage.retention_days?"),
])
def test_typo_suggestion_for_every_key(text, hint):
    assert hint in "\n".join(problems_of(text))


def test_log_level_accepts_the_seeds_and_our_spellings():
    assert parse_config({"general": {"log_level": "warning"}}, environ={}).general.log_level == "warn"
    assert parse_config({"general": {"log_level": "trace"}}, environ={}).general.log_level == "trace"
    assert "general.log_level" in "\n".join(problems_of('[general]\nlog_level = "loud"\n'))


def test_sources_are_checked():
    joined = "\n".join(problems_of('[log_pipeline]\nsources = ["syslog", "kafka"]\n'))
    assert "log_pipeline.sources" in joined and "unknown source 'kafka'" in joined
