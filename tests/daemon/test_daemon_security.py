"""What the daemon keeps to itself: file modes under a new user's umask, a data_dir others can
write into, and the PID file lock (two daemons at once, a reused PID in a stale file)."""

import os
import stat
import subprocess
import sys
import time

import pytest
from daemon_support import ROOT, DaemonProc, write_config

from ironpost.core.fsmode import UnsafePathError, check_data_dir, private_file, tighten
from ironpost.daemon.pidfile import PidFile
from ironpost.core.errors import DaemonError


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def daemon_cmd(cfg):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRONPOST_")}
    return dict(args=[sys.executable, "-m", "ironpost", "daemon", "--config", str(cfg)], cwd=ROOT, env=env, umask=0o022)


def test_state_is_private_under_a_default_umask(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    old = data / "file_offsets.json"
    old.write_text("{}")
    os.chmod(old, 0o644)
    logf = tmp_path / "auth.log"
    logf.write_text("")
    rules = tmp_path / "rules"
    rules.mkdir()
    cfg = write_config(tmp_path / "c.toml", data,
                       log_pipeline=f'enabled = true\nrules_dir = "{rules}"\nfiles = ["{logf}"]')
    d = DaemonProc(cfg, data)
    try:
        deadline = time.monotonic() + 10
        while not (data / "ironpost.db").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert d.request({"cmd": "status"})["ok"]
        assert mode(data) == 0o700
        made = [p for p in data.iterdir() if not p.name.endswith(".sock")]
        assert {p.name for p in made} >= {"ironpost.db", "ironpost.pid", "file_offsets.json"}
        for p in made:
            assert mode(p) == 0o600, f"{p.name} is {mode(p):04o}"
        assert mode(data / "ironpost.sock") == 0o600
        assert "modes tightened" in d.log_text()
    finally:
        assert d.stop() == 0
    for p in data.iterdir():  # what the shutdown wrote (WAL checkpoint, offsets) too
        assert mode(p) & 0o077 == 0, f"{p.name} is {mode(p):04o}"


def test_world_writable_data_dir_is_refused_untouched(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o777)
    r = subprocess.run(**daemon_cmd(write_config(tmp_path / "c.toml", data)), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "world-writable" in r.stderr
    assert list(data.iterdir()) == [] and mode(data) == 0o777


def test_check_data_dir_and_tighten(tmp_path):
    new = check_data_dir(tmp_path / "a" / "b")
    assert mode(new) == 0o700
    f = new / "x.db"
    f.write_text("secret")
    os.chmod(f, 0o644)
    target = tmp_path / "elsewhere"
    target.write_text("not ours")
    os.chmod(target, 0o644)
    (new / "link").symlink_to(target)
    changed = tighten(new)
    assert mode(f) == 0o600 and mode(target) == 0o644  # a planted link is not followed
    assert len(changed) == 1
    assert mode(private_file(new / "fresh")) == 0o600
    os.chmod(new, 0o757)
    with pytest.raises(UnsafePathError):
        check_data_dir(new)


def test_two_daemons_at_the_same_moment_one_wins_and_the_loser_touches_nothing(tmp_path):
    data = tmp_path / "data"
    cfg = write_config(tmp_path / "c.toml", data)
    procs = [subprocess.Popen(**daemon_cmd(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    try:
        deadline = time.monotonic() + 30
        while sum(p.poll() is not None for p in procs) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = [p for p in procs if p.poll() is None]
        assert len(alive) == 1, [p.poll() for p in procs]
        for p in procs:
            if p is not alive[0]:
                assert p.returncode == 1 and "another ironpost daemon is running" in p.stderr.read()
        winner = alive[0]
        deadline = time.monotonic() + 20
        while not (data / "ironpost.sock").exists():
            assert time.monotonic() < deadline and winner.poll() is None
            time.sleep(0.05)
        from ironpost.daemon.client import request

        st = request(data / "ironpost.sock", {"cmd": "status"})
        assert st["pid"] == winner.pid and int((data / "ironpost.pid").read_text()) == winner.pid
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(15)


def test_a_reused_pid_in_a_stale_file_does_not_block_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "ironpost.pid").write_text(f"{os.getpid()}\n")  # alive, but not a daemon holding the lock
    d = DaemonProc(write_config(tmp_path / "c.toml", data), data)
    try:
        assert int((data / "ironpost.pid").read_text()) == d.proc.pid
        assert "replaced a stale PID file" in d.log_text()
    finally:
        assert d.stop() == 0
    assert not (data / "ironpost.pid").exists()


def test_pid_file_lock_in_process(tmp_path):
    a, b = PidFile(tmp_path / "p.pid"), PidFile(tmp_path / "p.pid")
    a.acquire()
    with pytest.raises(DaemonError, match=f"pid {os.getpid()}"):
        b.acquire()
    assert mode(tmp_path / "p.pid") == 0o600
    a.release()
    assert not (tmp_path / "p.pid").exists()
    b.acquire()
    b.release()
