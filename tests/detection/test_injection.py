"""Attacker-chosen text (user names, request fields) must never move the address a rule extracts.

Each template is a line as the service writes it, with the client's text in {u}; hypothesis
fills {u} with pieces that look like the service's own address syntax. Every rule that
matches must report the real client, 203.0.113.9, or no address at all.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules.loader import load_rules_strict

ROOT = Path(__file__).resolve().parents[2]
REAL = "203.0.113.9"
TEMPLATES = {
    "sshd_failed": "Dec 10 06:55:46 host sshd[101]: Failed password for invalid user {u} from 203.0.113.9 port 4242 ssh2",
    "sshd_invalid": "Dec 10 06:55:46 host sshd[102]: Invalid user {u} from 203.0.113.9 port 4242",
    "sshd_closed": "Dec 10 06:55:46 host sshd[103]: Connection closed by authenticating user {u} 203.0.113.9 port 4242 [preauth]",
    "sshd_notallowed": "Dec 10 06:55:46 host sshd[104]: User {u} from 203.0.113.9 not allowed because not listed in AllowUsers",
    "pam": "Dec 10 06:55:46 host vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser= rhost=203.0.113.9  user={u}",
    "dropbear": "Dec 10 06:55:46 host dropbear[105]: Bad password attempt for '{u}' from 203.0.113.9:4242",
    "dovecot": "Dec 10 06:55:46 host dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{u}>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, TLS",
    "dovecot_passdb": "Dec 10 06:55:46 host dovecot: auth-worker(1): pam({u},203.0.113.9): unknown user",
    "nginx": '2014/04/03 22:20:40 [error] 30708#0: *3 user "{u}": password mismatch, client: 203.0.113.9, server: , request: "GET / HTTP/1.1", host: "localhost"',
    "apache": "[Thu Jul 11 01:21:43 2013] [error] [client 203.0.113.9] user {u} not found: /",
    "mysql": "2015-10-07 06:09:42 5907 [Warning] Access denied for user '{u}'@'203.0.113.9' (using password: YES)",
    "gitlab": "2020-04-09T14:04:00.667Z: Failed Login: username={u} ip=203.0.113.9",
    "vsftpd": 'Fri Jan 19 12:20:33 2007 [pid 27202] [{u}] FAIL LOGIN: Client "203.0.113.9"',
    "pureftpd": "Jan 31 16:54:07 desktop pure-ftpd: (?@203.0.113.9) [WARNING] Authentication failed for user [{u}]",
}
# pieces of the services' own syntax, to build user names that imitate it
PIECES = ["from", "10.0.0.1", "::ffff:10.0.0.2", "port", "22", "ssh2", "rhost=10.0.0.3", "user=", "rip=10.0.0.4",
          "client:", "client: 10.0.0.5, server:", "[client 10.0.0.6]", "'@'10.0.0.7'", ">, rip=10.0.0.8,",
          "(using password: YES)", "ip=10.0.0.9", '"', "'", "\r", "\x1b[31m", "@", "[", "]", ",", ":", "x", "root", ""]
user_names = st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map(" ".join)

_PIPE = {}


def pipeline() -> Pipeline:
    if "p" not in _PIPE:
        _PIPE["p"] = Pipeline(load_rules_strict(ROOT / "rules"), year=2025, fast_thresholds=False)
    return _PIPE["p"]


def addresses(line: str) -> list:
    hits: list = []
    pipeline().process(line.encode() + b"\n", "test",
                       on_match=lambda r, rec, _s: hits.append((r.id, rec.get("src_ip"))))
    return hits


def test_plain_user_names_are_caught_with_the_real_address():
    for name, tpl in TEMPLATES.items():
        hits = addresses(tpl.format(u="alice"))
        assert hits, name
        assert all(ip == REAL for _, ip in hits), (name, hits)


@settings(max_examples=300, deadline=None)
@given(u=user_names, name=st.sampled_from(sorted(TEMPLATES)))
def test_user_name_cannot_move_the_extracted_address(u, name):
    hits = addresses(TEMPLATES[name].format(u=u))
    wrong = [(rid, ip) for rid, ip in hits if ip is not None and ip != REAL]
    assert wrong == [], (name, u)


def test_mapped_ipv6_is_normalised():
    hits = addresses("Dec 10 06:55:46 host sshd[9]: Invalid user bob from ::ffff:203.0.113.9 port 22")
    assert hits and all(ip == REAL for _, ip in hits)


def test_dns_name_goes_to_src_host_not_src_ip():
    got: list = []
    pipeline().process(b"Dec 10 06:55:46 host sshd[9]: User root from example.com not allowed because listed in DenyUsers\n",
                       "t", on_match=lambda r, rec, _s: got.append((rec.get("src_ip"), rec.get("src_host"))))
    assert got and all(g == (None, "example.com") for g in got)


def test_rules_test_json_matches_carry_severity_and_service():
    import orjson
    from typer.testing import CliRunner

    from ironpost.cli.rules import app

    line = "Dec 10 06:55:46 host sshd[7]: Failed password for root from 203.0.113.9 port 22 ssh2\n"
    r = CliRunner().invoke(app, ["test", "--rule", str(ROOT / "rules"), "--stdin", "--json", "--year", "2025"], input=line)
    objs = [orjson.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    matches = [o for o in objs if o["type"] == "match"]
    assert matches and {(m["rule_id"], m["severity"], m["service"]) for m in matches} >= {("ssh_brute_force", "high", "sshd")}
    assert all(m["fields"]["src_ip"] == REAL for m in matches)
