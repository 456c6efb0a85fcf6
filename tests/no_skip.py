"""Under IRONPOST_NO_SKIP=1 (set by .ci/run) every skip is a failure.

support.need() already fails instead of skipping; these hooks catch every other path to a skip:
pytest.importorskip at module level (a skipped collection) or inside a test, pytest.skip(),
skip/skipif marks. A CI machine has every part, so a skip there hides a break. xfail is left alone.
tests/conftest.py and bench/conftest.py import the hooks, so pytest registers them there.
"""

from __future__ import annotations

import os

import pytest

ENV = "IRONPOST_NO_SKIP"


def no_skip() -> bool:
    return os.environ.get(ENV) == "1"


def _reason(longrepr) -> str:
    # a skip's longrepr is (path, lineno, "Skipped: reason")
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return f"{longrepr[2]} ({longrepr[0]}:{longrepr[1]})"
    return str(longrepr)


def _fail(report) -> None:
    report.longrepr = f"skip turned into a failure under {ENV}=1 (CI fails on any skip): {_reason(report.longrepr)}"
    report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if no_skip() and report.skipped and not hasattr(report, "wasxfail"):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if no_skip() and report.skipped:
        _fail(report)
