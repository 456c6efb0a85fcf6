"""Hyperscan matcher vs its `re` twin, and rule compilation into one database."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import support
from ironpost.core.errors import RuleError
from ironpost.core.extensions import compiled
from ironpost.log_pipeline import matcher_py as twin
from ironpost.log_pipeline.parsers.logparse_py import want_mask
from ironpost.log_pipeline.rules import compile_rules, load_rules
from ironpost.log_pipeline.rules.model import TEXT_FIELD_IDS as F
from lp_strategies import batch

ext = compiled("matcher")

PATTERNS = [
    (rb"^Failed password for (invalid user )?\S+ from \S+ port \d+ ssh2", False, F["message"], 0),
    (rb"authentication failure", False, F["message"], 1),
    (rb"^sshd$", False, F["process"], 1),
    (rb"ROOT", True, F["user"], 2),
    (rb"^(?:1\.2\.3\.4|2001:db8::7)$", False, F["src_ip"], 3),
    (rb"port", False, F["raw"], 4),
    (rb"x*", False, F["host"], 5),  # matches the empty string: needs HS_FLAG_ALLOWEMPTY
    (rb"^\xc3\xbc", True, F["message"], 6),
]


def need_ext():
    support.need(ext is not None, "ironpost._ext.matcher not built (libhyperscan-dev + build_ext --inplace)")


def test_candidates_only_on_linux_2k(linux_2k):
    need_ext()
    m = ext.Matcher(PATTERNS[:3], 2)
    cands, stats = m.scan(linux_2k, 2005)
    assert stats["lines"] == 2000
    assert 0 < len(cands) < 2000
    assert all(rules == (1,) for _, rules in cands)
    assert all("authentication failure" in rec["message"] and rec["process"] == "sshd" for rec, _ in cands)
    assert twin.Matcher(PATTERNS[:3], 2).scan(linux_2k, 2005) == (cands, stats)


def test_always_rules_make_every_line_a_candidate(linux_2k):
    need_ext()
    cands, _ = ext.Matcher([], 3, always=[2]).scan(linux_2k, 2005)
    assert len(cands) == 2000 and all(r == (2,) for _, r in cands)


def test_rejected_pattern_names_file_and_rule(tmp_path):
    need_ext()
    (tmp_path / "bad.yaml").write_text(
        "id: backref\ntitle: t\nseverity: low\ndetection:\n  conditions:\n"
        "    - field: message\n      operator: regex\n      value: '(a)\\1'\n")
    rules, problems = load_rules(tmp_path)
    assert not problems
    with pytest.raises(RuleError) as ei:
        compile_rules(rules, ext)
    e = ei.value
    assert e.rule_id == "backref" and e.file.endswith("bad.yaml") and e.line == 6
    assert "Back-reference" in str(e) or "back" in str(e).lower()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buf=batch, n_always=st.integers(0, 1),
       want=st.sampled_from([None, ["timestamp", "src_ip"], ["message", "sd.x", "pid", "port", "format", "severity"]]))
def test_ext_equals_twin_generated(buf, n_always, want):
    need_ext()
    always = [7] if n_always else []
    mask = want_mask(want)
    a = ext.Matcher(PATTERNS, 8, always).scan(buf, 2020, 3, 300, 8, mask)
    b = twin.Matcher(PATTERNS, 8, always).scan(buf, 2020, 3, 300, 8, mask)
    assert a == b


def test_ext_equals_twin_on_generated_auth_log():
    need_ext()
    import authlog

    buf = authlog.generate(3000, 300, seed=7)
    a = ext.Matcher(PATTERNS, 8).scan(buf, 2016)
    b = twin.Matcher(PATTERNS, 8).scan(buf, 2016)
    assert a == b and a[1]["candidates"] > 100


def test_want_limits_candidate_fields(linux_2k):
    need_ext()
    cands, _ = ext.Matcher(PATTERNS[:3], 2).scan(linux_2k, 2005, 0, 65536, 32, want_mask(["timestamp", "rhost"]))
    assert cands and all(set(rec) <= {"timestamp", "rhost"} and "timestamp" in rec for rec, _ in cands)


# the compiled matcher remembers what a short field's scan reported (process names repeat on nearly
# every line); one Matcher over many batches, with more patterns on a name than a memo slot holds
# and more names than it has slots, must answer as the twin does batch after batch
MEMO_PATTERNS = [
    (rb"^Failed password", False, F["message"], 0),
    *[(rb"^ss", False, F["process"], r) for r in range(1, 11)],  # ten rules on one name: overflows a slot
    *[(rb"^s", False, F["message"], r) for r in range(1, 11)],
    (rb"^p\d*[05]$", False, F["process"], 11),
    (rb"^Failed", False, F["message"], 11),
    (rb"^web", False, F["host"], 12),
]
_procs = st.one_of(st.sampled_from(["sshd", "ssh", "p5", "p10", "cron"]), st.from_regex(r"p\d{1,4}", fullmatch=True))
_line = st.tuples(_procs, st.sampled_from(["Failed password for x", "s x", "Other"]), st.sampled_from(["web1", "db"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(_line, min_size=1, max_size=40), min_size=1, max_size=8))
def test_memoised_field_scans_answer_as_the_twin_across_batches(batches):
    need_ext()
    a, b = ext.Matcher(MEMO_PATTERNS, 13), twin.Matcher(MEMO_PATTERNS, 13)
    for lines in batches:
        buf = b"".join(b"Dec  6 12:00:00 %s %s[1]: %s\n" % (h.encode(), p.encode(), m.encode()) for p, m, h in lines)
        assert a.scan(buf, 2020) == b.scan(buf, 2020)


def test_memo_sees_every_process_name_over_many_distinct_names():
    need_ext()
    a, b = ext.Matcher(MEMO_PATTERNS, 13), twin.Matcher(MEMO_PATTERNS, 13)
    # 2000 names through 256 slots, each name twice, then again: collisions and reuse
    names = [b"p%d" % i for i in range(2000)] * 2
    buf = b"".join(b"Dec  6 12:00:00 web1 %s[1]: Failed password for x\n" % n for n in names)
    got = a.scan(buf, 2020)
    assert got == b.scan(buf, 2020)
    assert sum(11 in rules for _, _, rules in [(0, 0, c[1]) for c in got[0]]) == 2 * 400  # p..0 and p..5 of 2000, twice


# an or_missing pattern holds where the line has no such field (raw lines, JSON without the key);
# a JSON value no pattern can see (a list, true) is present, not missing
MISSING_PATTERNS = [
    (rb"^(?:sshd|su)$", False, F["process"], 0, True),
    (rb"password|Failed", True, F["message"], 0),
    (rb"^web", False, F["host"], 1, True),
    (rb"^x", False, F["user"], 2, True),
    (rb"", False, F["message"], 2),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buf=st.one_of(batch, st.lists(st.sampled_from([
    b'{"message": "Failed password"}', b'{"message": "Failed", "process": "sshd"}', b'{"message": "Failed", "process": "cron"}',
    b'{"message": "Failed", "process": ["sshd"]}', b'{"message": "Failed", "process": true}', b'{"message": "Failed", "process": null}',
    b'{"msg": "password", "_COMM": "su"}', b'{"host": 5, "message": "x"}', b"Failed password for root", b"<13>1 - - - - - - Failed",
    b"Dec  6 12:00:00 web cron[1]: Failed password", b"Dec  6 12:00:00 db sshd[1]: Failed password"]),
    max_size=12).map(lambda ls: b"\n".join(ls) + b"\n")))
def test_or_missing_patterns_ext_equals_twin(buf):
    need_ext()
    a = ext.Matcher(MISSING_PATTERNS, 3).scan(buf, 2020, 3, 300, 8, -1)
    b = twin.Matcher(MISSING_PATTERNS, 3).scan(buf, 2020, 3, 300, 8, -1)
    assert a == b


def test_or_missing_holds_only_where_the_field_is_missing():
    need_ext()
    buf = (b"Failed password for root\n"                                # raw: no process
           b'{"message": "Failed", "process": ["sshd"]}\n'             # present, but no text: not missing
           b"Dec  6 12:00:00 db cron[1]: Failed password\n"            # another program
           b"Dec  6 12:00:00 db sshd[1]: Failed password\n")
    for impl in (ext, twin):
        cands, _ = impl.Matcher(MISSING_PATTERNS[:2], 1).scan(buf, 2020)
        assert [rec.get("process") for rec, _ in cands] == [None, "sshd"], impl
