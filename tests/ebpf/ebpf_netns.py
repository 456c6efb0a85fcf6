"""Network namespace + veth pair for the network module's tests and benchmarks.

Addresses: 10.200.<n>.1/30 (host side) <-> 10.200.<n>.2/30 (namespace), and ULA
fd00:200:<n>::1/64 <-> ::2, with <n> from the PID so parallel runs do not collide. A second
pair in the same process (`slot` 1..63, e.g. a fleet test while the ebpf session fixture holds
slot 0) gets its own names and the next /30 of 10.200.<n>.0/24 (fd00:200:<n>:<slot>::/64).
Traffic is only ever sent from inside the namespace to the host end of the veth.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import support

HERE = Path(__file__).parent
PREFIX = "ipeb"


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


def bcc_problem() -> str | None:
    if not support.is_root():
        return "XDP tests need root (network namespaces, BPF)"
    if not support.have("ip"):
        return "iproute2 `ip` missing"
    try:
        import bcc  # noqa: F401
    except ImportError as exc:
        return f"bcc not importable ({exc}): apt-get install python3-bpfcc; packaging/setup-bcc.sh"
    if not Path(f"/lib/modules/{os.uname().release}/build").exists():
        return "kernel headers missing: run packaging/setup-bcc.sh"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def sweep_leftovers() -> None:
    """Delete namespaces/veths/pins a crashed earlier run (dead PID) left behind."""
    out = run("ip", "netns", "list", check=False).stdout
    for m in re.finditer(rf"^({PREFIX}(\d+)(?:s\d+)?)\b", out, re.M):
        if not _pid_alive(int(m.group(2))):
            run("ip", "link", "del", m.group(1) + "h", check=False)
            run("ip", "netns", "del", m.group(1), check=False)
    for p in Path("/sys/fs/bpf").glob("ironpost-test-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


@dataclass
class Veth:
    ns: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str
    host_ip6: str
    ns_ip6: str

    def client(self, *args, timeout: float = 60) -> dict:
        """Run tests/ebpf/nsclient.py inside the namespace (bounded by its own counts)."""
        r = subprocess.run(["ip", "netns", "exec", self.ns, sys.executable, str(HERE / "nsclient.py"), *map(str, args)],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"nsclient {args} failed: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def xdp_line(self) -> str:
        return run("ip", "link", "show", "dev", self.host_if).stdout


def make_veth(slot: int = 0) -> Veth:
    if not 0 <= slot < 64:
        raise ValueError(f"slot {slot}: 10.200.<n>.0/24 holds 64 /30 pairs")
    pid = os.getpid()
    n = pid % 250 + 1
    name = f"{PREFIX}{pid}" + (f"s{slot}" if slot else "")  # at most 15 chars with the h/n suffix
    base = 4 * slot
    net6 = f"fd00:200:{n:x}:{slot:x}:" if slot else f"fd00:200:{n:x}:"
    v = Veth(ns=name, host_if=name + "h", ns_if=name + "n",
             host_ip=f"10.200.{n}.{base + 1}", ns_ip=f"10.200.{n}.{base + 2}",
             host_ip6=f"{net6}:1", ns_ip6=f"{net6}:2")
    steps = [
        ("ip", "netns", "add", v.ns),
        ("ip", "link", "add", v.host_if, "type", "veth", "peer", "name", v.ns_if),
        ("ip", "link", "set", v.ns_if, "netns", v.ns),
        ("ip", "addr", "add", f"{v.host_ip}/30", "dev", v.host_if),
        ("ip", "-6", "addr", "add", f"{v.host_ip6}/64", "dev", v.host_if, "nodad"),
        ("ip", "link", "set", v.host_if, "up"),
        ("ip", "-n", v.ns, "addr", "add", f"{v.ns_ip}/30", "dev", v.ns_if),
        ("ip", "-n", v.ns, "-6", "addr", "add", f"{v.ns_ip6}/64", "dev", v.ns_if, "nodad"),
        ("ip", "-n", v.ns, "link", "set", v.ns_if, "up"),
        ("ip", "-n", v.ns, "link", "set", "lo", "up"),
    ]
    try:
        for s in steps:
            run(*s)
    except subprocess.CalledProcessError as exc:
        drop_veth(v)
        raise RuntimeError(f"veth setup failed at {' '.join(exc.cmd)}: {exc.stderr.strip()}") from None
    return v


def drop_veth(v: Veth) -> None:
    run("ip", "link", "del", v.host_if, check=False)
    run("ip", "netns", "del", v.ns, check=False)


def wait_for(pred, timeout: float = 3.0, step: float = 0.02):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def host_mac(veth: Veth) -> bytes:
    info = json.loads(run("ip", "-j", "link", "show", "dev", veth.host_if).stdout)[0]
    return bytes.fromhex(info["address"].replace(":", ""))


def udp4_frame(veth: Veth, tags: list[tuple[int, int]], dport: int, payload: bytes = b"vlan-test") -> bytes:
    """Ethernet [+ VLAN tags] + IPv4 + UDP, from the namespace end to the host end."""
    udp = struct.pack("!HHHH", 40001, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(veth.ns_ip), socket.inet_aton(veth.host_ip))
    eth = host_mac(veth) + bytes.fromhex("020000000002")
    for tpid, vid in tags:
        eth += struct.pack("!HH", tpid, vid)
    return eth + struct.pack("!H", 0x0800) + ip + udp
