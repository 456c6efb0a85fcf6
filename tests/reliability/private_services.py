"""A private PostgreSQL and a private redis-server, started by the test on their own loopback
port in a temp dir, that the test can SIGKILL mid-stream and start again on the same data.

PostgreSQL comes from Debian's postgresql package (/usr/lib/postgresql/<v>/bin); initdb refuses
to run as root, so as root the cluster is created and run as the `postgres` user. Only the
processes started here are ever signalled, by their pid.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import support
from reliability_support import free_port, wait_until


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def _children(pid: int) -> list[int]:
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.split("/")[2]))
    return out


class PrivatePostgres:
    def __init__(self):
        bindir = _pg_bin()
        support.need(bindir is not None, "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin; apt-get install postgresql)")
        self.bin = bindir
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                support.need(False, "running as root and there is no postgres user to run initdb as")
        # outside pytest's tmp tree: the postgres user must be able to reach it
        self.root = Path(tempfile.mkdtemp(prefix="ironpost-rel-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if self.user:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        try:
            self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            self.start()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)  # nothing runs yet: only files to remove
            raise

    def _run(self, args: list[str], timeout: float = 60) -> None:
        kw = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []} if self.user else {}
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=self.root, **kw)
        assert r.returncode == 0, f"{args[0]} failed: {r.stdout[-1000:]} {r.stderr[-1000:]}"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=20"
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "pg.log"), "-w", "-t", "60", "start"], timeout=90)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends: the database is gone mid-transaction."""
        pid = self.postmaster_pid()
        assert pid is not None
        kids = _children(pid)
        for p in [pid, *kids]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not any(_alive(p) for p in [pid, *kids]), 15, "postgres processes gone")
        # A killed postmaster leaves its lock file; in a container without an init that reaps
        # orphans its pid stays a zombie, which PostgreSQL takes for a running postmaster.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for lock in self.root.glob(".s.PGSQL.*"):  # the socket and its lock file, same reason
            lock.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.postmaster_pid() is not None and _alive(self.postmaster_pid()):
            try:
                self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
            except AssertionError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class PrivateRedis:
    def __init__(self, tmp: Path):
        exe = shutil.which("redis-server")
        support.need(exe is not None, "redis-server not installed (apt-get install redis-server)")
        self.exe, self.dir = exe, tmp
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                                     "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: support.tcp_open("127.0.0.1", self.port), 15, "redis-server listening")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
