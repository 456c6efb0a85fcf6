"""A fleet decision enforced by a real kernel: node A (backend memory) bans an attacker from its
logs, and node B, whose XDP program sits on a veth into a network namespace this test creates,
drops that attacker's packets until an unblock on A clears the ban on B too."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

import support
from node_support import Node, fleet_cfg, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ebpf"))
from ebpf_netns import bcc_problem, drop_veth, make_veth, sweep_leftovers  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.root, pytest.mark.bpf, pytest.mark.slow]

# tests/ebpf's session fixture holds slot 0 of this process when both suites run in one session
VETH_SLOT = 1


@pytest.fixture
def fleet_veth():
    problem = bcc_problem()
    support.need(problem is None, problem or "")
    sweep_leftovers()
    v = make_veth(VETH_SLOT)
    try:
        yield v
    finally:
        drop_veth(v)


def net_list(node: Node, *flags: str) -> dict[str, dict]:
    """`cli net list --json` on a node: through its daemon, or with --direct from the pinned kernel map."""
    return {e["network"]: e for e in json.loads(node.cli("net", "list", "--json", *flags).stdout)}


def kernel_stats(node: Node) -> dict[str, int]:
    return json.loads(node.cli("net", "stats", "--json").stdout)


def exemptions_logged(node: Node) -> list[dict]:
    for line in node.log_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("msg") == "ban exemptions":
            return rec["exempt"]
    raise AssertionError(f"{node.name} logged no ban exemptions: {node.log_text()[-1500:]}")


def test_a_peers_rule_ban_drops_packets_in_this_nodes_xdp_until_the_peer_unblocks(
        tmp_path, prefix, fleet_veth):
    v = fleet_veth
    ip, host = v.ns_ip, f"{v.ns_ip}/32"
    pin_dir = f"/sys/fs/bpf/ironpost-test-fleet-{os.getpid()}"  # sweep_leftovers clears it after a crash
    a = Node(tmp_path, "a", fleet=fleet_cfg(prefix))
    # B keeps the default host exemptions: the namespace end is not this host's, so it must stay bannable
    b = Node(tmp_path, "b", fleet=fleet_cfg(prefix), backend="xdp", exempt_host=True,
             ebpf=f'interface = "{v.host_if}"\nxdp_mode = "skb"\npin_dir = "{pin_dir}"')
    listener = socket.socket()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, pin_dir, ignore_errors=True)
        cleanup.callback(listener.close)
        for n in (b, a):
            cleanup.callback(n.kill)  # only when stop() failed to end it
            cleanup.callback(n.stop)
        listener.bind((v.host_ip, 0))
        listener.listen(64)  # the kernel completes handshakes; nothing needs accepting
        port = listener.getsockname()[1]

        a.start()
        b.start(timeout=120)
        wait_for(lambda: a.module_state("fleet") == b.module_state("fleet") == "running", 15, "fleet modules running")
        assert "xdpgeneric" in v.xdp_line(), v.xdp_line()

        exempt = exemptions_logged(b)
        assert {"network": f"{v.host_ip}/32", "reason": "interface"} in exempt, exempt
        covering = [e for e in exempt if ipaddress.ip_address(ip) in ipaddress.ip_network(e["network"])]
        assert covering == [], f"{ip} (the namespace end, not this host) is exempt on b: {covering}"

        before = kernel_stats(b)
        assert v.client("tcp", v.host_ip, port, 3) == {"ok": 3, "fail": 0}
        passed = kernel_stats(b)
        # the handshakes went through B's program, so a drop later is B's doing
        assert passed["handshakes_completed"] - before["handshakes_completed"] >= 3
        assert passed["dropped_packets"] == before["dropped_packets"]

        a.ssh_failures(ip)  # logged to A only; B never sees the attack
        wait_for(lambda: host in a.banned(), 10, "a bans the namespace address")
        wait_for(lambda: host in b.banned(), 15, "b applies a's decision")
        d = {d["value"]: d for d in b.decisions()}[ip]
        assert d["node_id"] == "a" and d["origin"] == "rule:ssh_brute_force", d
        assert host in net_list(b)
        entry = net_list(b, "--direct")[host]  # read from the pinned map the XDP program reads
        assert entry["expires_at"] is not None

        assert v.client("tcp", v.host_ip, port, 3) == {"ok": 0, "fail": 3}
        blocked = kernel_stats(b)
        assert blocked["dropped_packets"] - passed["dropped_packets"] >= 3, blocked
        assert blocked["handshakes_completed"] == passed["handshakes_completed"]
        assert net_list(b, "--direct")[host]["hits"] >= 3

        a.cli("net", "unblock", ip)
        wait_for(lambda: host not in b.banned(), 15, "b drops the ban a's operator lifted")
        assert host not in net_list(b, "--direct") and host not in a.banned()
        assert v.client("tcp", v.host_ip, port, 3) == {"ok": 3, "fail": 0}
        after = kernel_stats(b)
        assert after["dropped_packets"] == blocked["dropped_packets"]
        assert after["handshakes_completed"] - blocked["handshakes_completed"] >= 3
