"""A failed Hyperscan scan is counted and its line is never "clean"; a Matcher refuses a
second concurrent scan (its scratch and counters are shared and used without the GIL)."""

import threading

import pytest

import support
from ironpost.core.errors import LogPipelineError
from ironpost.core.extensions import compiled
from ironpost.log_pipeline import matcher_py as twin
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules.model import TEXT_FIELD_IDS as F

ext = compiled("matcher")
IMPLS = [twin] + ([ext] if ext is not None else [])
HS_SCRATCH_IN_USE = -10
LINES = (b"<34>1 2026-11-30T12:00:00Z h sshd 1 - - Failed password for root from 203.0.113.9 port 1 ssh2\n"
         b"<34>1 2026-11-30T12:00:01Z h sshd 1 - - Failed password for bob from 203.0.113.9 port 1 ssh2\n"
         b'{"message": "Failed password for eve from 203.0.113.10 port 1 ssh2"}\n')


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
def test_scan_error_is_counted_and_its_line_is_not_clean(impl):
    m = impl.Matcher([(rb"Failed password", False, F["message"], 0)], 1)
    cands, stats = m.scan(LINES, 2026)
    assert len(cands) == 3 and stats["scan_errors"] == 0 and stats["lines_unscanned"] == 0
    m._inject_scan_errors(HS_SCRATCH_IN_USE, 2)
    cands, stats = m.scan(LINES, 2026)
    # the first two lines failed to scan: not candidates, and counted as unscanned, not clean
    assert [c[0]["message"] for c in cands] == ["Failed password for eve from 203.0.113.10 port 1 ssh2"]
    assert stats["scan_errors"] == 2 and stats["lines_unscanned"] == 2
    assert m.last_scan_error == HS_SCRATCH_IN_USE and m.lines_unscanned == 2


def test_both_matchers_count_the_same_failures():
    support.need(ext is not None, "ironpost._ext.matcher not built")
    pats = [(rb"Failed", False, F["message"], 0), (rb"^sshd$", False, F["process"], 0)]
    out = []
    for impl in (twin, ext):
        m = impl.Matcher(pats, 1)
        m._inject_scan_errors(-1, 1)
        out.append(m.scan(LINES, 2026))
    assert out[0] == out[1]


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
def test_pipeline_logs_and_exports_scan_errors(impl, caplog):
    from ironpost.log_pipeline.rules import load_rules

    p = Pipeline([], matcher_impl=impl)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "r.yaml").write_text("id: r\ntitle: t\nseverity: low\ndetection:\n  conditions:\n"
                                        "    - field: message\n      operator: contains\n      value: Failed\n")
        rules, problems = load_rules(d)
    assert not problems
    p = Pipeline(rules, matcher_impl=impl)
    p.compiled.matcher._inject_scan_errors(-1, 1)
    with caplog.at_level("ERROR", logger="ironpost.log_pipeline"):
        alerts = p.process(LINES, "test")
    assert len(alerts) == 2
    m = p.metrics()
    assert m["lp_scan_errors_total"] == 1 and m["lp_lines_unscanned_total"] == 1
    assert any("hyperscan scan failed" in r.getMessage() for r in caplog.records)


def test_a_second_concurrent_scan_is_refused():
    """The compiled scan releases the GIL; a second thread must get an error, not shared scratch."""
    support.need(ext is not None, "ironpost._ext.matcher not built")
    m = ext.Matcher([(rb"(a|b)*c", False, F["message"], 0)], 1)
    line = b"<34>1 2026-11-30T12:00:00Z h p 1 - - " + b"ab" * 30000 + b"\n"
    buf = line * 3000  # ~180 MB/s of scanning: long enough for the other thread to arrive
    refused, lines = [], []
    def long_scan():
        while True:  # the short scans below may hold the matcher when this one starts
            try:
                lines.append(m.scan(buf, 2026)[1]["lines"])
                return
            except LogPipelineError:
                continue

    for _attempt in range(5):
        t = threading.Thread(target=long_scan)
        t.start()
        while t.is_alive() and not refused:
            try:
                m.scan(line, 2026)
            except LogPipelineError as exc:
                refused.append(str(exc))
        t.join()
        if refused:
            break
    assert refused and "not thread-safe" in refused[0]
    assert lines[-1] == 3000  # the scan that ran was not disturbed
    assert m.scan(line, 2026)[1]["lines"] == 1  # the guard is released afterwards
