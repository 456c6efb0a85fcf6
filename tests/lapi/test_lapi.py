"""The CrowdSec-compatible decision API: keys, 403s, stream deltas, lookups; then the real
Debian crowdsec-custom-bouncer against a real daemon (an Ironpost rule's ban reaches it, an
unblock removes it)."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import urllib.error
import urllib.request

import orjson
import pytest

import support
from ironpost.core import decisions
from ironpost.core.decisions import DecisionLedger
from ironpost.lapi.keys import BouncerKeys, LapiError
from ironpost.lapi.server import LapiServer
from node_support import Node, wait_for


@pytest.fixture
def api(tmp_path):
    ledger = DecisionLedger()
    keys = BouncerKeys(tmp_path / "bouncers.json")
    key = keys.add("fw1")
    return LapiServer("127.0.0.1:0", ledger, keys), ledger, key


def add(ledger, value, origin="cli", **kw):
    d = decisions.make(value, origin, **kw)
    ledger.record(d.network(), d)
    return d


def test_keys_are_stored_hashed_0600_and_checked(tmp_path):
    keys = BouncerKeys(tmp_path / "b.json")
    key = keys.add("fw1")
    text = (tmp_path / "b.json").read_text()
    assert key not in text and len(key) == 64
    assert stat.S_IMODE(os.stat(tmp_path / "b.json").st_mode) == 0o600
    assert keys.check(key) == "fw1" and keys.check(key[:-1] + "0" if key[-1] != "0" else key[:-1] + "1") is None
    with pytest.raises(LapiError):
        keys.add("fw1")
    with pytest.raises(LapiError):
        keys.add("bad name!")
    assert BouncerKeys(tmp_path / "b.json").load().check(key) == "fw1"  # as the daemon reads it
    assert keys.delete("fw1") and BouncerKeys(tmp_path / "b.json").load().check(key) is None


def test_requests_without_a_valid_key_get_403_and_are_counted(api):
    server, ledger, key = api
    add(ledger, "203.0.113.1")
    for headers in ({}, {"x-api-key": "nope"}, {"x-api-key": key + "x"}, {"x-api-key": "a" * 10_000}):
        status, body = server.handle("GET", "/v1/decisions/stream?startup=true", headers)
        assert status == 403 and body == {"message": "access forbidden"}
    assert server.counts["forbidden"] == 4
    assert server.handle("GET", "/health", {})[0] == 200  # health needs no key
    assert server.handle("GET", "/v1/decisions/stream?startup=true", {"x-api-key": key})[0] == 200


def test_stream_gives_everything_at_startup_then_deltas(api):
    server, ledger, key = api
    h = {"x-api-key": key}
    a = add(ledger, "203.0.113.1", "rule:ssh", duration=100, reason="SSH brute force")
    add(ledger, "198.51.100.0/24", "cli")
    status, body = server.handle("GET", "/v1/decisions/stream?startup=true", h)
    assert status == 200
    by_value = {d["value"]: d for d in body["new"]}
    assert set(by_value) == {"203.0.113.1", "198.51.100.0/24"} and body["deleted"] is None
    one = by_value["203.0.113.1"]
    assert (one["scope"], one["type"], one["origin"], one["scenario"]) == ("Ip", "ban", "rule:ssh", "SSH brute force")
    assert one["duration"] in ("100s", "99s") and by_value["198.51.100.0/24"]["scope"] == "Range"
    assert server.handle("GET", "/v1/decisions/stream?startup=false", h)[1] == {"new": None, "deleted": None}
    ledger.revoke(a.network(), decisions.make("203.0.113.1", "cli", action="delete"))
    add(ledger, "203.0.113.2", "list:drop")
    body = server.handle("GET", "/v1/decisions/stream?startup=false&scopes=ip", h)[1]
    assert [d["value"] for d in body["new"]] == ["203.0.113.2"]
    assert [d["value"] for d in body["deleted"]] == ["203.0.113.1"]
    # a bouncer asking only for ip scope never sees the range
    body = server.handle("GET", "/v1/decisions/stream?startup=true&scopes=ip", h)[1]
    assert {d["value"] for d in body["new"]} == {"203.0.113.2"}


def test_lookup_by_ip_finds_host_and_range_decisions(api):
    server, ledger, key = api
    h = {"x-api-key": key}
    add(ledger, "198.51.100.0/24", "cli")
    add(ledger, "203.0.113.9", "rule:r", duration=60)
    assert [d["value"] for d in server.handle("GET", "/v1/decisions?ip=198.51.100.77", h)[1]] == ["198.51.100.0/24"]
    assert [d["value"] for d in server.handle("GET", "/v1/decisions?ip=203.0.113.9", h)[1]] == ["203.0.113.9"]
    assert server.handle("GET", "/v1/decisions?ip=192.0.2.1", h)[1] is None
    assert server.handle("GET", "/v1/decisions?ip=not-an-ip", h)[0] == 400


def test_over_http_with_limits(api):
    server, ledger, key = api
    add(ledger, "203.0.113.1")

    async def main():
        await server.start()
        url = f"http://127.0.0.1:{server.port}"

        def get(path, headers=None):
            req = urllib.request.Request(url + path, headers=headers or {})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status, orjson.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, orjson.loads(e.read())

        try:
            assert await asyncio.to_thread(get, "/v1/decisions?ip=203.0.113.1") == (403, {"message": "access forbidden"})
            status, body = await asyncio.to_thread(get, "/v1/decisions?ip=203.0.113.1", {"X-Api-Key": key})
            assert status == 200 and body[0]["value"] == "203.0.113.1"
            status, _ = await asyncio.to_thread(get, "/v1/decisions", {"X-Api-Key": key, "X-Big": "x" * 70_000})
            assert status == 400
        finally:
            await server.close()
    asyncio.run(main())


BOUNCER = "/usr/bin/crowdsec-custom-bouncer"


def test_real_crowdsec_custom_bouncer_enforces_ironpost_decisions(tmp_path):
    support.need(os.path.exists(BOUNCER), f"{BOUNCER} missing: apt-get install crowdsec-custom-bouncer "
                                          "(packaging/install-deps.sh)")
    node = Node(tmp_path, "web-1", lapi=True).start()
    bouncer = None
    try:
        wait_for(lambda: node.module_state("lapi") == "running", 10, "lapi running")
        key = node.cli("bouncers", "add", "custom").stdout.strip()
        seen = tmp_path / "bouncer-calls.txt"
        script = tmp_path / "record.sh"
        script.write_text(f'#!/bin/sh\necho "$1 $2 $3" >> {seen}\n')
        script.chmod(0o755)
        cfg = tmp_path / "custom-bouncer.yaml"
        cfg.write_text(f"""bin_path: {script}
feed_via_stdin: false
total_retries: 0
scenarios_containing: []
scenarios_not_containing: []
origins: []
piddir: {tmp_path}/
update_frequency: 200ms
cache_retention_duration: 1s
daemonize: false
log_mode: stdout
log_level: info
api_url: http://127.0.0.1:{node.lapi_port}/
api_key: {key}
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 0
""")
        bouncer = subprocess.Popen([BOUNCER, "-c", str(cfg)], stdout=open(tmp_path / "bouncer.log", "wb"),
                                   stderr=subprocess.STDOUT)
        wait_for(lambda: node.metrics().get("lapi_bouncers_polling") == 1, 15,
                 "the bouncer polls the API" + (tmp_path / "bouncer.log").read_text()[-1000:])
        node.ssh_failures("203.0.113.50")  # five failed logins: the shipped ssh_brute_force rule bans
        wait_for(lambda: seen.exists() and "add 203.0.113.50" in seen.read_text(), 15,
                 "the bouncer receives the rule's ban")
        line = next(l for l in seen.read_text().splitlines() if l.startswith("add 203.0.113.50"))
        assert 590 <= int(line.split()[2]) <= 600  # the ban's remaining duration, in seconds
        node.cli("net", "unblock", "203.0.113.50")
        wait_for(lambda: "del 203.0.113.50" in seen.read_text(), 15, "the unblock reaches the bouncer")
        assert node.metrics()["lapi_forbidden_total"] == 0
        r = urllib.request.Request(f"http://127.0.0.1:{node.lapi_port}/v1/decisions/stream", headers={"X-Api-Key": "x"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(r, timeout=5)
        assert exc.value.code == 403 and node.metrics()["lapi_forbidden_total"] == 1
    finally:
        if bouncer is not None:
            bouncer.send_signal(signal.SIGTERM)
            try:
                bouncer.wait(10)
            except subprocess.TimeoutExpired:
                bouncer.kill()
        node.stop()
