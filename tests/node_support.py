"""Several real daemons on this machine (separate data dirs, sockets, ports) for the fleet,
decision API and bouncer-mode tests. XDP cannot be given to every node, so nodes use the real
ban path with `[ebpf] backend = "memory"` unless a test gives one its own veth (backend="xdp",
the interface and pin_dir in `ebpf`)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from ironpost.core.errors import DaemonError

import support
from support import free_port, wait_for  # noqa: F401  (re-exported to the fleet, lapi and feeds tests)
from daemon_support import ROOT, DaemonProc, write_config

SSH_FAIL = "<38>Dec  6 12:00:{sec:02d} {host} sshd[{pid}]: Failed password for root from {ip} port {port} ssh2"


def fleet_cfg(prefix: str, url: str = support.REDIS_URL, extra: str = "") -> str:
    """The [fleet] keys of a test node: its own streams and heartbeat hash under `prefix`."""
    return (f'redis_url = "{url}"\ndecisions_stream = "{prefix}:decisions"\nalerts_stream = "{prefix}:alerts"\n'
            f'nodes_key = "{prefix}:nodes"\nclaim_idle_secs = 1\n{extra}')


class Node:
    """One daemon: its syslog UDP port, decision API port (when enabled) and control socket."""

    def __init__(self, tmp: Path, name: str, *, fleet: str = "", lapi: bool = False, feeds: str = "",
                 auto_block: bool = True, extra: str = "", backend: str = "memory", exempt_host: bool = False,
                 ebpf: str = ""):
        self.name, self.dir = name, tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.syslog_port = free_port(socket.SOCK_DGRAM)
        self.lapi_port = free_port() if lapi else None
        sections = f"""
[ebpf]
enabled = true
backend = "{backend}"
auto_block = {str(auto_block).lower()}
ban_ttl_secs = 600
ban_exempt_host = {str(exempt_host).lower()}
{ebpf}
"""
        if fleet:
            sections += f"\n[fleet]\nenabled = true\nnode_id = \"{name}\"\nheartbeat_secs = 0.5\n{fleet}\n"
        if lapi:
            sections += f"\n[lapi]\nenabled = true\nlisten = \"127.0.0.1:{self.lapi_port}\"\n"
        if feeds:
            sections += f"\n[feeds]\nenabled = true\n{feeds}\n"
        self.config = write_config(
            self.dir / "ironpost.toml", self.data_dir, extra=sections + extra,
            log_pipeline=f'enabled = true\nsources = ["syslog"]\nsyslog_udp = "127.0.0.1:{self.syslog_port}"\n'
                         f'rules_dir = "{ROOT / "rules"}"')
        self.proc: DaemonProc | None = None

    def start(self, timeout: float = 20) -> "Node":
        # an XDP node compiles its program first (2 s alone, several times that on 2 busy cores)
        (self.data_dir / "ironpost.sock").unlink(missing_ok=True)  # left by a killed run: wait for the new one
        self.proc = DaemonProc(self.config, self.data_dir)
        try:
            wait_for(self.ebpf_ready, timeout, f"{self.name}: ebpf module ready")
        except AssertionError as exc:
            state = self.module_state("ebpf")
            raise AssertionError(f"{exc} (state {state}); daemon log: {self.log_text()[-1500:]}") from None
        return self

    def ebpf_ready(self) -> bool:
        """The network module answers its control ops: ban manager up and, with XDP, the program attached.
        The supervisor's "running" state comes earlier, as soon as the module's run() is entered."""
        try:
            return bool(self.ebpf("list").get("ok"))
        except DaemonError:  # the socket exists a moment before the daemon accepts on it
            return False

    def module_state(self, name: str) -> str | None:
        try:
            st = self.proc.request({"cmd": "status"})
        except DaemonError:  # the socket exists a moment before the daemon accepts on it
            return None
        return st.get("modules", {}).get(name, {}).get("state")

    def stop(self) -> None:
        if self.proc is not None and self.proc.proc.poll() is None:
            rc = self.proc.stop()
            assert rc == 0, f"{self.name} did not stop cleanly (rc={rc}): {self.log_text()[-1500:]}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.proc.poll() is None:
            self.proc.proc.kill()
            self.proc.proc.wait()

    def ssh_failures(self, ip: str, n: int = 5) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(n):
                s.sendto(SSH_FAIL.format(sec=i, host=self.name, pid=100 + i, ip=ip, port=40000 + i).encode(),
                         ("127.0.0.1", self.syslog_port))

    def ebpf(self, op: str, **args) -> dict:
        return self.proc.request({"cmd": "module", "module": "ebpf", "op": op, "args": args})

    def banned(self) -> set[str]:
        resp = self.ebpf("list")
        return {e["network"] for e in resp.get("entries", [])} if resp.get("ok") else set()

    def decisions(self) -> list[dict]:
        return self.ebpf("decisions").get("decisions", [])

    def metrics(self) -> dict:
        return self.proc.request({"cmd": "metrics"}).get("metrics", {})

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "ironpost", "cli", *args, "--config", str(self.config)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"cli {args} failed ({r.returncode}): {r.stderr}")
        return r

    def log_text(self) -> str:
        return self.proc.log_text() if self.proc else ""
