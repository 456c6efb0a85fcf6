"""Per-source formats (`[log_pipeline] formats`): a source read as one shape, compiled and twin alike,
and text in one kind of log that cannot pose as another kind."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import support
from ironpost.core.config import load_config
from ironpost.core.errors import ConfigError
from ironpost.core.extensions import compiled
from ironpost.log_pipeline import matcher_py
from ironpost.log_pipeline.parsers import logparse_py as twin
from ironpost.log_pipeline.parsers.logparse_py import MODE_NAMES, shapes_tried
from ironpost.log_pipeline.pipeline import Pipeline, SourceFormats
from ironpost.log_pipeline.rules import load_rules
from ironpost.log_pipeline.rules.model import TEXT_FIELD_IDS as F
from lp_strategies import batch

RULES = Path(__file__).resolve().parents[2] / "rules"
ext_parse = compiled("logparse")
ext_match = compiled("matcher")

ACCESS = b'203.0.113.9 - - [01/Dec/2026:10:00:00 +0000] "GET /wp-login.php HTTP/1.1" 404 12 "-" "curl"'
SSHD = b"Dec  1 10:00:00 web sshd[7]: Failed password for root from 198.51.100.4 port 22 ssh2"
JOURNAL = b'{"MESSAGE": "Failed password for root from 198.51.100.4 port 22 ssh2", "SYSLOG_IDENTIFIER": "sshd"}'


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buf=batch, mode=st.integers(0, len(MODE_NAMES) - 1))
def test_ext_equals_twin_in_every_mode(buf, mode):
    support.need(ext_parse is not None and ext_match is not None, "extensions not built")
    a, b = ext_parse.parse(buf, 2020, 3, 200, 8, mode), twin.parse(buf, 2020, 3, 200, 8, mode)
    assert a.stats == b.stats
    assert a.records() == b.records()
    pats = [(rb"password", False, F["message"], 0), (rb"^sshd$", False, F["process"], 1), (rb"\.", False, F["src_ip"], 2)]
    assert (ext_match.Matcher(pats, 3).scan(buf, 2020, 3, 200, 8, -1, 0.0, mode)
            == matcher_py.Matcher(pats, 3).scan(buf, 2020, 3, 200, 8, -1, 0.0, mode))


@pytest.mark.parametrize("impl", [twin, ext_parse] if ext_parse else [twin])
@pytest.mark.parametrize("mode,line,fmt", [
    ("auto", SSHD, "rfc3164"), ("syslog", SSHD, "rfc3164"), ("raw", SSHD, "raw"), ("access", SSHD, "raw"),
    ("json", SSHD, "raw"), ("json", JOURNAL, "json"), ("syslog", JOURNAL, "raw"), ("raw", JOURNAL, "raw"),
    ("access", ACCESS, "access"), ("nginx_error", ACCESS, "raw"), ("auto", ACCESS, "access"),
])
def test_a_source_read_as_one_shape(impl, mode, line, fmt):
    r = impl.parse(line + b"\n", 2026, 0, 65536, 32, MODE_NAMES.index(mode)).record(0)
    assert r["format"] == fmt
    if fmt == "raw":
        assert r["message"] == line.decode() and "process" not in r


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        twin.parse(b"x\n", 2026, 0, 65536, 32, len(MODE_NAMES))
    if ext_parse:
        with pytest.raises(ValueError):
            ext_parse.parse(b"x\n", 2026, 0, 65536, 32, -1)


def test_source_lookup_exact_kind_then_glob():
    sf = SourceFormats({"/var/log/nginx/*.log": "access", "/var/log/nginx/error.log": "nginx_error",
                        "syslog": "syslog", "container": "json"})
    assert MODE_NAMES[sf.mode("/var/log/nginx/error.log")] == "nginx_error"  # an exact name beats a glob
    assert MODE_NAMES[sf.mode("/var/log/nginx/access.log")] == "access"
    assert MODE_NAMES[sf.mode("tcp://10.0.0.5:40000")] == "syslog"
    assert MODE_NAMES[sf.mode("udp://0.0.0.0:514")] == "syslog"
    assert MODE_NAMES[sf.mode("docker:web:abc")] == "json"
    assert MODE_NAMES[sf.mode("/var/log/auth.log")] == "auto"
    assert SourceFormats(None).mode("anything") == 0


def test_app_log_read_raw_cannot_pose_as_sshd(tmp_path):
    """An application that writes what a client sends at the start of its lines: read as raw,
    a forged sshd line does not feed the sshd rules; auto-detected, it would."""
    rules, problems = load_rules(RULES)
    assert not problems
    forged = b"".join(SSHD.replace(b"[7]", b"[%d]" % i) + b"\n" for i in range(12))
    app = str(tmp_path / "app.log")
    auto = Pipeline(rules, year=2026)
    raw = Pipeline(rules, year=2026, formats={app: "raw"})
    fired_auto = {a.rule_id for a in auto.process(forged, app)}
    fired_raw = [a for a in raw.process(forged, app) if a.details.get("service") == "sshd"]
    assert any(r.startswith("ssh") for r in fired_auto)
    assert fired_raw == []
    assert raw.stats["raw"] == 12 and auto.stats["rfc3164"] == 12


def test_explain_names_the_shapes_it_tried():
    rules, _ = load_rules(RULES / "http_access.yaml")
    pipe = Pipeline(rules, year=2026)
    res = pipe.explain(rules[0], "example.com - - [01/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1")
    assert res["format"] == "raw" and res["source_format"] == "auto"
    assert res["shapes_tried"] == ["rfc3164", "access"]
    assert shapes_tried(b"[Wed Oct 11 14:32:52 2023] x") == ["rfc3164", "apache_error"]
    assert shapes_tried(b"<13>1 - - - - - - x") == ["rfc5424", "rfc3164"]
    assert shapes_tried(b"{}") == ["json"] and shapes_tried(b"x", MODE_NAMES.index("raw")) == []


def test_formats_key_is_checked(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[log_pipeline]\nformats = { "/var/log/nginx/access.log" = "access", syslog = "syslog" }\n')
    cfg = load_config(good, environ={})
    assert cfg.section("log_pipeline").formats == {"/var/log/nginx/access.log": "access", "syslog": "syslog"}
    env = load_config(good, environ={"IRONPOST_LOG_PIPELINE_FORMATS": "/a.log=raw,container=json"})
    assert env.section("log_pipeline").formats == {"/a.log": "raw", "container": "json"}
    bad = tmp_path / "bad.toml"
    bad.write_text('[log_pipeline]\nformats = { "/var/log/x.log" = "apache" }\n')
    with pytest.raises(ConfigError, match=r"log_pipeline\.formats.*'/var/log/x.log' = 'apache' is not one of"):
        load_config(bad, environ={})


def test_the_daemons_pipeline_takes_formats_from_the_config(tmp_path):
    from ironpost.log_pipeline.module import build_pipeline

    conf = tmp_path / "ironpost.toml"
    conf.write_text(f'[log_pipeline]\nrules_dir = "{RULES}"\n[log_pipeline.formats]\n"{tmp_path}/*.log" = "raw"\n')
    pipe = build_pipeline(load_config(conf, environ={}), None)
    app = str(tmp_path / "app.log")
    pipe.process(SSHD + b"\n", app)
    pipe.process(SSHD + b"\n", "/var/log/auth.log")
    assert pipe.stats["raw"] == 1 and pipe.stats["rfc3164"] == 1
