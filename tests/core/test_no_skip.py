"""IRONPOST_NO_SKIP=1 turns every way of skipping into a failure (tests/no_skip.py), and only then."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

PROBE = '''
import pytest

def test_importorskip_inside():
    pytest.importorskip("ironpost_no_such_module")

@pytest.mark.skip(reason="marked")
def test_skip_mark():
    pass

@pytest.mark.skipif(True, reason="condition")
def test_skipif_mark():
    pass

def test_skip_call():
    pytest.skip("called")

@pytest.mark.xfail(reason="expected", strict=True)
def test_xfail_is_left_alone():
    assert False
'''
MODULE_LEVEL = 'import pytest\npytest.importorskip("ironpost_no_such_module")\n\ndef test_never_collected():\n    pass\n'
CONFTEST = f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nfrom no_skip import pytest_make_collect_report, pytest_runtest_makereport  # noqa\n"


def run(tmp_path, no_skip: str | None):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_probe.py").write_text(PROBE)
    (tmp_path / "test_module_level.py").write_text(MODULE_LEVEL)
    env = {k: v for k, v in os.environ.items() if k != "IRONPOST_NO_SKIP"}
    if no_skip is not None:
        env["IRONPOST_NO_SKIP"] = no_skip
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                           "--continue-on-collection-errors", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_every_skip_fails_under_no_skip(tmp_path):
    r = run(tmp_path, "1")
    assert r.returncode == 1, r.stdout
    tail = r.stdout.splitlines()[-1]
    # 3 failed in the call phase, 1 error in setup (skip marks), 1 collection error; xfail stays xfail
    assert "skipped" not in tail and "1 xfailed" in tail, tail
    for name in ("test_importorskip_inside", "test_skip_call", "test_skip_mark", "test_skipif_mark", "test_module_level.py"):
        assert name in r.stdout and "IRONPOST_NO_SKIP=1" in r.stdout, name


def test_skips_stay_skips_without_it(tmp_path):
    r = run(tmp_path, None)
    assert r.returncode == 0, r.stdout
    assert "5 skipped, 1 xfailed" in r.stdout.splitlines()[-1]
