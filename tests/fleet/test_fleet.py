"""Several daemons on this machine share decisions through the real Redis (Streams, one
consumer group per node): an attack seen on one node bans it on all, an unblock anywhere clears
all, a node or Redis killed mid-stream loses nothing and applies nothing twice."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import time

import pytest
import redis

import support
from node_support import Node, fleet_cfg, free_port, wait_for

pytestmark = pytest.mark.redis


def rand_ip() -> str:
    return f"203.0.113.{random.randint(1, 254)}"


def ledger_size(node: Node) -> int:
    """Decisions in force in the node's ledger file (read while the node is down)."""
    db = sqlite3.connect(node.data_dir / "decisions.db")
    try:
        return db.execute("SELECT count(*) FROM decisions").fetchone()[0]
    finally:
        db.close()


def test_attack_on_one_node_bans_on_every_node_and_unblock_anywhere_clears_all(tmp_path, prefix):
    nodes = [Node(tmp_path, f"n{i}", fleet=fleet_cfg(prefix)) for i in range(3)]
    try:
        for n in nodes:
            n.start()
        wait_for(lambda: all(n.module_state("fleet") == "running" for n in nodes), 10, "fleet modules running")
        ip = rand_ip()
        nodes[0].ssh_failures(ip)
        for n in nodes:
            wait_for(lambda n=n: f"{ip}/32" in n.banned(), 10, f"{n.name} bans {ip}")
        d1 = {d["value"]: d for d in nodes[1].decisions()}[ip]
        assert d1["origin"] == "rule:ssh_brute_force" and d1["node_id"] == "n0" and d1["duration"] == 600
        nodes[2].cli("net", "unblock", ip)  # on another node than the one that banned
        for n in nodes:
            wait_for(lambda n=n: f"{ip}/32" not in n.banned(), 10, f"{n.name} drops the ban on {ip}")
        # a node that does not trust peers' rule decisions keeps its own view
        def heartbeats():
            return {b["node_id"]: b for b in json.loads(nodes[0].cli("fleet", "nodes", "--json").stdout)}
        # a heartbeat goes out every 0.5 s, so the one counting n1's second decision may not be written yet
        beats = wait_for(lambda: (hb := heartbeats()).get("n1", {}).get("applied", 0) >= 2 and hb, 5,
                         "n1's heartbeat counts both decisions")
        assert set(beats) == {"n0", "n1", "n2"}
        assert beats["n1"]["applied"] >= 2 and not beats["n1"]["stale"] and beats["n0"]["version"]
        table = nodes[0].cli("fleet", "nodes").stdout
        assert "n2" in table and "LAG" in table
    finally:
        for n in nodes:
            n.stop()


def test_trust_limits_what_a_node_applies(tmp_path, prefix):
    a = Node(tmp_path, "a", fleet=fleet_cfg(prefix)).start()
    b = Node(tmp_path, "b", fleet=fleet_cfg(prefix, extra='trust = ["cli"]')).start()
    try:
        ip = rand_ip()
        a.ssh_failures(ip)
        wait_for(lambda: f"{ip}/32" in a.banned(), 10, "a bans")
        assert a.ebpf("block", target="198.51.100.0/24", ttl_secs=600)["ok"]
        wait_for(lambda: "198.51.100.0/24" in b.banned(), 10, "b applies a's operator block")
        assert f"{ip}/32" not in b.banned()
        assert wait_for(lambda: b.metrics().get("fleet_untrusted_total", 0) >= 1, 5, "counted as untrusted")
    finally:
        a.stop()
        b.stop()


def test_a_forged_stream_entry_cannot_ban_a_range(tmp_path, prefix):
    a = Node(tmp_path, "a", fleet=fleet_cfg(prefix)).start()
    try:
        r = redis.Redis.from_url(support.REDIS_URL)
        forged = {"value": "0.0.0.0/0", "origin": "rule:x", "action": "add", "node_id": "evil", "id": "f" * 32}
        r.xadd(f"{prefix}:decisions", {"e": json.dumps(forged)})
        ok = {"value": "198.51.100.9", "origin": "cli", "action": "add", "node_id": "evil", "id": "e" * 32}
        r.xadd(f"{prefix}:decisions", {"e": json.dumps(ok)})
        r.xadd(f"{prefix}:decisions", {"e": b"\xff not json"})
        wait_for(lambda: "198.51.100.9/32" in a.banned(), 10, "the valid entry is applied")
        assert a.banned() == {"198.51.100.9/32"}
        assert a.metrics()["fleet_invalid_total"] == 2
        pending = r.xpending(f"{prefix}:decisions", "node:a")
        wait_for(lambda: r.xpending(f"{prefix}:decisions", "node:a")["pending"] == 0, 5, "all acknowledged")
        r.close()
    finally:
        a.stop()


class PrivateRedis:
    """A redis-server of this test's own (AOF, fsync always), so it can be killed."""

    def __init__(self, tmp):
        support.need(support.have("redis-server"), "redis-server is not installed")
        self.port, self.dir = free_port(), tmp / "redis"
        self.dir.mkdir(exist_ok=True)
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                      str(self.dir), "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: support.tcp_open("127.0.0.1", self.port), 10, "private redis up")
        return self

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def test_kill_a_node_and_redis_mid_stream_nothing_lost_nothing_twice(tmp_path):
    rs = PrivateRedis(tmp_path).start()
    cfg = fleet_cfg("ft", rs.url, extra="redis_timeout_secs = 0.5")
    a, b = Node(tmp_path, "a", fleet=cfg).start(), Node(tmp_path, "b", fleet=cfg).start()
    targets = [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(300)]
    try:
        wait_for(lambda: b.metrics().get("fleet_redis_up") == 1, 10, "b connected")
        for t in targets[:100]:
            assert a.ebpf("block", target=t, ttl_secs=900)["ok"]
        b.kill()  # SIGKILL, mid-stream: whatever b read and had not acknowledged stays pending
        before = ledger_size(b)  # what b had applied (and recorded) when it died
        for t in targets[100:200]:
            assert a.ebpf("block", target=t, ttl_secs=900)["ok"]
        wait_for(lambda: a.metrics().get("fleet_queue_depth") == 0, 10, "a published its first 200")
        rs.kill()
        for t in targets[200:]:  # Redis is down: a keeps protecting itself and queues
            assert a.ebpf("block", target=t, ttl_secs=900)["ok"]
        wait_for(lambda: a.metrics().get("fleet_queue_depth", 0) >= 1, 10, "a queues while Redis is down")
        assert len(a.banned()) == 300
        rs.start()
        b.start()
        want = {f"{t}/32" for t in targets}
        wait_for(lambda: b.banned() >= want, 30, "b has every decision after both restarts")
        assert {d["value"] for d in b.decisions() if d["node_id"] == "a"} == set(targets)
        assert a.metrics()["fleet_queue_dropped_total"] == 0
        # applied once each: what b applied since its restart is exactly what it lacked when killed
        assert b.metrics()['ebpf_ban_events_total{kind="bans"}'] == 300 - before
    finally:
        a.stop()
        b.stop()
        if rs.proc and rs.proc.poll() is None:
            rs.kill()


def test_entries_read_but_never_acknowledged_are_applied_on_restart_once(tmp_path, prefix):
    r = redis.Redis.from_url(support.REDIS_URL)
    stream = f"{prefix}:decisions"
    r.xgroup_create(stream, "node:b", id="0", mkstream=True)

    def entry(i):
        return {"e": json.dumps({"value": f"198.51.100.{i}", "origin": "cli", "node_id": "x", "id": f"{i:032x}",
                                 "duration": 900})}
    for i in range(1, 11):
        r.xadd(stream, entry(i))
    r.xreadgroup("node:b", "b", {stream: ">"}, count=10)  # read by a previous run of b that died before applying
    for i in range(11, 16):
        r.xadd(stream, entry(i))
    r.xreadgroup("node:b", "b-old", {stream: ">"}, count=5)  # under another consumer name, now idle
    time.sleep(1.2)  # claim_idle_secs = 1
    b = Node(tmp_path, "b", fleet=fleet_cfg(prefix)).start()
    try:
        want = {f"198.51.100.{i}/32" for i in range(1, 16)}
        wait_for(lambda: b.banned() == want, 10, "every unacknowledged entry applied")
        m = b.metrics()
        assert m["fleet_reread_total"] == 10 and m["fleet_claimed_total"] == 5
        wait_for(lambda: r.xpending(stream, "node:b")["pending"] == 0, 5, "all acknowledged")
        r.xadd(stream, entry(3))  # the same decision delivered again
        wait_for(lambda: b.metrics().get('ebpf_ban_events_total{kind="duplicate"}') == 1, 5, "counted as duplicate")
        assert b.metrics()['ebpf_ban_events_total{kind="bans"}'] == 15
    finally:
        b.stop()
        r.close()


def alerts_for(node: Node, ip: str) -> int:
    db = sqlite3.connect(node.data_dir / "ironpost.db")
    try:
        return db.execute("SELECT count(*) FROM alerts WHERE src_ip = ?", (ip,)).fetchone()[0]
    finally:
        db.close()


def test_an_attack_spread_across_nodes_raises_one_alert_and_a_ban_on_every_node(tmp_path, prefix):
    shared = f'\n[log_pipeline.storage]\nredis_url = "{support.REDIS_URL}"\n'
    nodes = [Node(tmp_path, f"n{i}", fleet=fleet_cfg(prefix), extra=shared) for i in range(2)]
    try:
        for n in nodes:
            n.start()
        ip = f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"  # fresh key in the shared threshold state
        nodes[0].ssh_failures(ip, 3)  # 3 tries on each node: under the rule's 5 on either, 6 for the fleet
        time.sleep(0.3)
        nodes[1].ssh_failures(ip, 3)
        for n in nodes:
            wait_for(lambda n=n: f"{ip}/32" in n.banned(), 10, f"{n.name} bans {ip}")
    finally:
        for n in nodes:
            n.stop()
    assert sum(alerts_for(n, ip) for n in nodes) == 1


def test_nodes_sharing_postgresql_list_the_fleets_alerts_with_their_node(tmp_path, prefix):
    from storage_support import temp_database

    with temp_database() as pg_url:
        shared = f'\n[log_pipeline.storage]\npostgres_url = "{pg_url}"\n'
        nodes = [Node(tmp_path, f"web-{i}", fleet=fleet_cfg(prefix), extra=shared) for i in range(2)]
        ips = [f"198.51.100.{random.randint(1, 120)}", f"198.51.100.{random.randint(130, 250)}"]
        try:
            for n in nodes:
                n.start()
            for n, ip in zip(nodes, ips):
                n.ssh_failures(ip, 5)  # the fast brute-force rule fires on the node that saw it
            def by_node():
                rows = [json.loads(line) for line in nodes[0].cli("alerts", "list", "--json").stdout.splitlines()]
                return {(r.get("node"), r.get("src_ip")) for r in rows if r.get("src_ip") in ips}
            wait_for(lambda: {("web-0", ips[0]), ("web-1", ips[1])} <= by_node(), 15, "both nodes' alerts in PostgreSQL")
            only = [json.loads(line) for line in nodes[0].cli("alerts", "list", "--json", "--node", "web-1").stdout.splitlines()]
            table = nodes[1].cli("alerts", "list").stdout
            none = nodes[0].cli("alerts", "list", "--node", "web-9").stdout
        finally:
            for n in nodes:
                n.stop()
    assert only and {r["node"] for r in only} == {"web-1"} and ips[1] in {r.get("src_ip") for r in only}
    assert ips[0] not in {r.get("src_ip") for r in only}
    assert "node" in table.splitlines()[1] + table.splitlines()[2] and "web-0" in table and "web-1" in table
    assert "no alerts" in none and "web-9" in none
