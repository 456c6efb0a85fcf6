"""A service's failure line counts only when the service wrote it: from syslog, under its own
process name; from its own log file (no process at all). The same text logged by another program
(an application echoing request data, `logger -t webapp ...`) must not raise an alert, so it
cannot ban an address of an attacker's choosing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironpost.core.extensions import compiled
from ironpost.log_pipeline import matcher_py
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules.loader import load_rules_strict

RULES = load_rules_strict(Path(__file__).resolve().parents[2] / "rules")
VICTIM = "198.51.100.23"

# (rule, syslog line template with {proc}, the service's own process name, its own file's line)
CASES = [
    ("dovecot_brute_force", "Aug 28 06:38:5{i} mx {proc}[459]: imap-login: Disconnected (auth failed, 1 attempts in 9 secs): "
     "user=<a{i}>, method=PLAIN, rip=" + VICTIM + ", lip=192.0.2.1, session=<x{i}>", "dovecot",
     "Jan 29 09:33:5{i} pop3-login: Info: Aborted login (auth failed, 1 attempts in 2 secs): user=<g{i}>, method=PLAIN, rip="
     + VICTIM + ", lip=192.0.2.1"),
    ("proftpd_brute_force", "Dec  5 15:44:3{i} serv1 {proc}[70944]: serv1.example.com (example.com[" + VICTIM + "]) - "
     "USER u{i}: no such user found from example.com [" + VICTIM + "] to 192.0.2.1:21", "proftpd", None),
    ("pureftpd_brute_force", "Jan 31 16:54:0{i} desktop {proc}: (?@" + VICTIM + ") [WARNING] Authentication failed for "
     "user [a{i}]", "pure-ftpd", None),
    ("mysql_auth_failure", "Mar 24 17:56:1{i} db {proc}[812]: Access denied for user 'root{i}'@'" + VICTIM
     + "' (using password: YES)", "mysqld",
     "130324 17:56:1{i} [Warning] Access denied for user 'root{i}'@'" + VICTIM + "' (using password: YES)"),
    ("vsftpd_brute_force", None, "vsftpd", "Fri Jan 19 12:20:3{i} 2007 [pid 2720{i}] [anonymous] FAIL LOGIN: Client \""
     + VICTIM + "\""),
]


def run(impl, lines: list[str]) -> list:
    pipe = Pipeline(RULES, year=2016, matcher_impl=impl, clock=lambda: 1481353000.0)
    return [(a.rule_id, a.src_ip) for a in pipe.process(("\n".join(lines) + "\n").encode(), "t")]


IMPLS = [pytest.param(matcher_py, id="twin"), pytest.param(compiled("matcher"), id="compiled")]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("rule, template, own, native", CASES, ids=[c[0] for c in CASES])
def test_only_the_service_itself_can_raise_its_alert(impl, rule, template, own, native):
    if impl is None:
        pytest.fail("ironpost._ext.matcher is not built")
    if template is not None:
        assert (rule, VICTIM) in run(impl, [template.format(i=i, proc=own) for i in range(6)])
        for forger in ("webapp", "logger", "sshd"):
            got = run(impl, [template.format(i=i, proc=forger) for i in range(6)])
            assert not [a for a in got if a[1] == VICTIM], (forger, got)
    if native is not None:
        assert (rule, VICTIM) in run(impl, [native.format(i=i) for i in range(6)])


def test_the_process_check_stays_in_the_compiled_matcher():
    """or_missing conditions are Hyperscan patterns (an absent field counts as a match), so these
    rules keep their thresholds in C instead of falling back to the Python path."""
    impl = compiled("matcher")
    if impl is None:
        pytest.fail("ironpost._ext.matcher is not built")
    pipe = Pipeline(RULES, year=2016, matcher_impl=impl)
    ids = {r.id: i for i, r in enumerate(pipe.compiled.log_rules)}
    for rule, *_ in CASES:
        rest = pipe.compiled.py_conditions[ids[rule]]
        assert not [c for c in rest if c.field == "process"], rule
        if not rest:  # (dovecot's rules keep a `not` condition, which only Python evaluates)
            assert ids[rule] in pipe.agg_rules, rule
    assert sum(ids[r] in pipe.agg_rules for r, *_ in CASES) >= 4
