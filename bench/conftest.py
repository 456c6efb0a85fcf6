import os
import sys

# bench/ and tests/ helpers are importable (tests/support.py as `support`).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.dirname(__file__))

# Under IRONPOST_NO_SKIP=1 any skip (importorskip, skip marks, pytest.skip) fails the run.
from no_skip import pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402,F401
