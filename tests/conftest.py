import os
import sys

# tests/support.py is importable as `support` from every test module.
sys.path.insert(0, os.path.dirname(__file__))


import pytest  # noqa: E402

# Under IRONPOST_NO_SKIP=1 any skip (importorskip, skip marks, pytest.skip) fails the run.
from no_skip import pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402,F401


@pytest.fixture
def daemon_proc(tmp_path):
    """A real daemon subprocess with the default test config (see daemon_support)."""
    from daemon_support import DaemonProc, write_config

    data_dir = tmp_path / "data"
    d = DaemonProc(write_config(tmp_path / "ironpost.toml", data_dir), data_dir)
    yield d
    if d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()
