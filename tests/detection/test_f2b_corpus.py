"""The shipped rules against fail2ban's annotated filter test logs (fetched from Debian)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from support import need

sys.path.insert(0, str(Path(__file__).parent))
import f2b_corpus  # noqa: E402

from ironpost.log_pipeline.rules.loader import load_rules_strict  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results():
    need(shutil.which("apt-get") is not None and shutil.which("dpkg") is not None,
         "apt-get and dpkg are needed to fetch fail2ban's test logs from Debian")
    try:
        corpus = f2b_corpus.fetch()
    except (RuntimeError, OSError, StopIteration) as exc:
        need(False, f"cannot fetch fail2ban's test logs: {exc}")
    rules = load_rules_strict(ROOT / "rules")
    return f2b_corpus.evaluate(corpus, rules)


def test_every_service_is_in_the_corpus(results):
    for svc in f2b_corpus.SERVICES:
        assert results[svc], f"no annotated lines read for {svc}"


def test_attack_lines_are_caught_with_their_host(results):
    text, tot = f2b_corpus.table(results)
    print("\n" + text)
    misses = [(e.service, e.lineno, e.host, e.hits) for es in results.values() for e in es
              if e.match and e.host and not e.optional and not e.caught()]
    assert tot["attacks"] >= 300
    assert tot["caught"] >= 0.95 * tot["attacks"], misses
    for svc, entries in results.items():  # no service is left behind by the total
        att = [e for e in entries if e.match and e.host and not e.optional]
        assert sum(e.caught() for e in att) >= 0.8 * len(att), (svc, misses)


def test_benign_lines_never_match_medium_or_above(results):
    bad = [(e.service, e.lineno, e.alarming(), e.line[:160]) for es in results.values() for e in es
           if not e.match and not e.optional and e.alarming()]
    assert bad == []


def test_extracted_address_is_never_one_the_line_marks_as_injected(results):
    # the corpus' injection cases name the real host; a hit with another address would ban the wrong one
    wrong = [(e.service, e.lineno, e.host, ip) for es in results.values() for e in es
             if e.match and e.host and not e.optional
             for _, _, ip, _ in e.hits if ip is not None and ip != e.host]
    assert wrong == []
