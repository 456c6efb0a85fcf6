"""The same attack gives the same alerts in every log shape the parser reads: sshd's lines as a
syslog file and as journald's export (`journalctl -o json`), and a web server's lines whether
the pipeline detects their shape or is told it (`formats`)."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from ironpost.log_pipeline.parsers import logparse_py as twin
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules.loader import load_rules_strict

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules_strict(ROOT / "rules")
sys.path.insert(0, str(ROOT / "bench"))
import authlog  # noqa: E402  (bench/authlog.py: the generated auth log the benchmarks use)


def fired(pipe: Pipeline, buf: bytes, source: str = "t") -> list:
    return sorted((a.rule_id, a.src_ip or "", a.count, a.first_seen, a.last_seen) for a in pipe.process(buf, source))


def as_journald(buf: bytes, year: int) -> bytes:
    """Each syslog line as journald writes it: every value a string, the time in microseconds."""
    out = []
    for rec in twin.parse(buf, year).records():
        j = {"MESSAGE": rec["message"], "_HOSTNAME": rec["host"], "SYSLOG_IDENTIFIER": rec["process"], "_COMM": rec["process"],
             "__REALTIME_TIMESTAMP": str(int(rec["timestamp"]) * 1_000_000), "PRIORITY": "6", "_TRANSPORT": "syslog"}
        if "pid" in rec:
            j["_PID"] = str(rec["pid"])
        out.append(orjson.dumps(j))
    return b"\n".join(out) + b"\n"


def test_journald_export_gives_the_syslog_files_alerts():
    buf = authlog.generate(4000, 60, seed=5)
    syslog = fired(Pipeline(RULES, year=2016, clock=lambda: 1481353000.0), buf)
    journal = fired(Pipeline(RULES, year=2016, clock=lambda: 1481353000.0), as_journald(buf, 2016))
    assert len({r for r, *_ in syslog}) >= 3  # several sshd rules, not one lucky match
    assert journal == syslog


def test_journald_byte_array_messages_are_read():
    """journald exports a MESSAGE that is not valid UTF-8 as an array of byte values: one invalid
    byte in a chosen user name must not hide the attempt from the rules (compiled and twin)."""
    from ironpost.core.extensions import compiled
    from ironpost.log_pipeline import matcher_py

    lines = []
    for i in range(6):
        msg = b"Failed password for invalid user r\xffot%d from 203.0.113.77 port %d ssh2" % (i, 4000 + i)
        lines.append(orjson.dumps({"MESSAGE": list(msg), "_COMM": "sshd", "SYSLOG_IDENTIFIER": "sshd",
                                   "_PID": str(100 + i), "_HOSTNAME": "h",
                                   "__REALTIME_TIMESTAMP": str((1481353000 + i) * 1_000_000)}))
    buf = b"\n".join(lines) + b"\n"
    for impl in (compiled("matcher"), matcher_py):
        assert impl is not None, "ironpost._ext.matcher is not built"
        got = fired(Pipeline(RULES, year=2016, matcher_impl=impl, clock=lambda: 1481353000.0), buf)
        assert ("ssh_brute_force", "203.0.113.77") in {(r, ip) for r, ip, *_ in got}, (impl, got)


def test_journald_trusts_comm_over_the_identifier_a_local_user_chooses():
    """`logger -t sshd 'Failed password ...'` reaches journald with SYSLOG_IDENTIFIER=sshd but
    _COMM=logger (set by journald from the kernel): it must not count as sshd's."""
    buf = authlog.generate(2000, 30, seed=9)
    forged = as_journald(buf, 2016).replace(b'"_COMM":"sshd"', b'"_COMM":"logger"')
    real = fired(Pipeline(RULES, year=2016, clock=lambda: 1481353000.0), as_journald(buf, 2016))
    assert any(r.startswith("ssh") for r, *_ in real)
    assert not [a for a in fired(Pipeline(RULES, year=2016, clock=lambda: 1481353000.0), forged)
                if a[0].startswith(("ssh", "sshd"))]


ACCESS = b"".join(
    b'198.51.100.%d - - [01/Dec/2026:10:00:%02d +0000] "GET /%s HTTP/1.1" 404 153 "-" "Mozilla/5.0"\n'
    % (k % 3 + 7, k, p)
    for k, p in enumerate([b"phpmyadmin/", b"wp-login.php", b".env", b".git/config", b"pma/", b"xmlrpc.php"] * 3))
NGINX = b"".join(
    b'2026/12/01 10:00:%02d [error] 812#812: *%d user "admin": password mismatch, client: 203.0.113.%d, server: '
    b'example.com, request: "GET /admin HTTP/1.1", host: "example.com"\n' % (k, k, k % 2 + 40)
    for k in range(12))
APACHE = b"".join(
    b"[Tue Dec 01 10:00:%02d.%06d 2026] [auth_basic:error] [pid 91:tid 140] [client 192.0.2.%d:%d] AH01618: "
    b"user admin not found: /private\n" % (k, k * 7, k % 2 + 60, 40000 + k)
    for k in range(12))


def test_web_logs_alert_alike_detected_or_told():
    for buf, fmt in ((ACCESS, "access"), (NGINX, "nginx_error"), (APACHE, "apache_error")):
        auto = Pipeline(RULES, year=2026)
        told = Pipeline(RULES, year=2026, formats={"/var/log/web.log": fmt})
        a, t = fired(auto, buf, "/var/log/web.log"), fired(told, buf, "/var/log/web.log")
        assert a and a == t, fmt
        assert auto.stats[fmt] == buf.count(b"\n")
        assert all(ip in buf.decode() for _, ip, *_ in a)
