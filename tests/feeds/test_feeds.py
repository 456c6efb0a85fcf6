"""Decision feeds: block lists (FireHOL/Spamhaus format) and bouncer mode against the real
`crowdsec` Debian package's LAPI, run offline on a port of this test's own."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

import support
from ironpost.core.decisions import DecisionError
from ironpost.feeds.crowdsec import convert, parse_go_duration
from ironpost.feeds.lists import parse_list
from node_support import Node, free_port, wait_for


def test_list_parsing_comments_ranges_and_bad_lines():
    text = """# FireHOL style header
; Spamhaus DROP List 2026/12/06
1.10.16.0/20 ; SBL256894
203.0.113.9
198.51.100.0/24 # a comment
not-an-ip
300.1.1.1/8
2001:db8::/32

"""
    parsed = parse_list(text, "drop", max_entries=100)
    assert parsed.values == {"1.10.16.0/20": "range", "203.0.113.9": "ip", "198.51.100.0/24": "range",
                             "2001:db8::/32": "range"}
    assert parsed.bad_count == 2 and [n for n, _ in parsed.bad] == [6, 7]
    with pytest.raises(DecisionError):
        parse_list("1.1.1.1\n2.2.2.2\n3.3.3.3\n", "big", max_entries=2)


def test_go_durations_and_crowdsec_stream_conversion():
    assert parse_go_duration("3h59m55.756182786s") == pytest.approx(14395.756182786)
    assert parse_go_duration("150ms") == pytest.approx(0.15) and parse_go_duration("-5s") == -5
    for bad in ("", "5", "h", "5x", "1h5"):
        with pytest.raises(ValueError):
            parse_go_duration(bad)
    counts = {"invalid": 0, "unsupported": 0, "expired": 0}
    body = (b'{"new": [{"value": "203.0.113.5", "scope": "Ip", "type": "ban", "duration": "1h", "scenario": "ssh-bf"},'
            b'{"value": "198.51.100.0/24", "scope": "Range", "type": "ban", "duration": "2h"},'
            b'{"value": "FR", "scope": "Country", "type": "ban", "duration": "1h"},'
            b'{"value": "203.0.113.6", "scope": "Ip", "type": "captcha", "duration": "1h"},'
            b'{"value": "0.0.0.0/0x", "scope": "Range", "type": "ban", "duration": "1h"},'
            b'{"value": "203.0.113.7", "scope": "Ip", "type": "ban", "duration": "-3s"}],'
            b'"deleted": [{"value": "203.0.113.8", "scope": "Ip", "type": "ban", "duration": "-1s"}]}')
    got = convert(body, "n1", counts)
    assert [(d.action, d.value, d.origin) for d in got] == [("delete", "203.0.113.8", "crowdsec"),
                                                            ("add", "203.0.113.5", "crowdsec"),
                                                            ("add", "198.51.100.0/24", "crowdsec")]
    assert got[1].duration == 3600 and got[1].reason == "ssh-bf"
    assert counts == {"invalid": 1, "unsupported": 2, "expired": 1}


def test_a_list_loads_refreshes_and_revokes_what_it_dropped(tmp_path):
    lst = tmp_path / "drop.txt"
    lst.write_text("; Spamhaus DROP\n198.51.100.0/24 ; SBL1\n203.0.113.9\nbogus\n")
    node = Node(tmp_path, "n", feeds=f'lists = ["drop={lst}"]\nlists_refresh_secs = 600', auto_block=True).start()
    try:
        wait_for(lambda: node.banned() == {"198.51.100.0/24", "203.0.113.9/32"}, 10, "list loaded")
        origins = {d["value"]: d["origin"] for d in node.decisions()}
        assert origins == {"198.51.100.0/24": "list:drop", "203.0.113.9": "list:drop"}
        node.ssh_failures("203.0.113.40")  # an alert ban on an address the list will never name
        wait_for(lambda: "203.0.113.40/32" in node.banned(), 10, "alert ban")
        lst.write_text("203.0.113.9\n192.0.2.0/24\n")
        assert node.proc.request({"cmd": "reload"})["ok"]  # reload reads lists again at once
        wait_for(lambda: node.banned() == {"203.0.113.9/32", "192.0.2.0/24", "203.0.113.40/32"}, 10,
                 "refreshed: vanished entry revoked, new one banned, the alert ban untouched")
        m = node.metrics()
        assert m['feeds_list_bad_lines_total{list="drop"}'] == 1 and m['feeds_list_revoked_total{list="drop"}'] == 1
    finally:
        node.stop()


class CrowdsecLapi:
    """The Debian crowdsec package's LAPI alone (-no-cs), offline, on a port and database of our own."""

    def __init__(self, tmp):
        support.need(shutil.which("crowdsec") is not None and shutil.which("cscli") is not None,
                     "crowdsec is not installed: packaging/install-deps.sh installs it offline")
        self.port = free_port()
        cfg = yaml.safe_load(open("/etc/crowdsec/config.yaml"))
        cfg["common"].update(daemonize=False, log_media="stdout", log_level="warning")
        cfg["db_config"]["db_path"] = str(tmp / "crowdsec.db")
        cfg["config_paths"]["data_dir"] = str(tmp)
        cfg["api"]["server"]["listen_uri"] = f"127.0.0.1:{self.port}"
        cfg["api"]["server"].pop("online_client", None)  # offline: no Central API
        cfg["api"]["client"]["credentials_path"] = str(tmp / "lapi-creds.yaml")
        cfg["prometheus"]["enabled"] = False
        self.config = tmp / "crowdsec.yaml"
        self.config.write_text(yaml.safe_dump(cfg))
        self.log = tmp / "crowdsec.log"
        self.proc = subprocess.Popen(["crowdsec", "-c", str(self.config), "-no-cs"], stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: support.tcp_open("127.0.0.1", self.port) or self.proc.poll() is not None, 30, "crowdsec LAPI")
        assert self.proc.poll() is None, self.log.read_text()[-2000:]
        # a machine (watcher) for cscli decisions add, its credentials written where the config says
        self.cscli("machines", "add", "ironpost-test", "--auto", "--force", "-f", str(tmp / "lapi-creds.yaml"),
                   "--url", f"http://127.0.0.1:{self.port}")

    def cscli(self, *args: str) -> str:
        r = subprocess.run(["cscli", "-c", str(self.config), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def test_bouncer_mode_loads_crowdsec_decisions_with_their_durations(tmp_path):
    cs = CrowdsecLapi(tmp_path)
    node = None
    try:
        key = cs.cscli("bouncers", "add", "ironpost", "-o", "raw").strip()
        cs.cscli("decisions", "add", "--ip", "203.0.113.77", "--duration", "2h", "--reason", "from cscli")
        cs.cscli("decisions", "add", "--range", "198.51.100.0/24", "--duration", "30m")
        node = Node(tmp_path, "n", auto_block=False, feeds=f'crowdsec_url = "http://127.0.0.1:{cs.port}/"\n'
                    f'crowdsec_api_key = "{key}"\ncrowdsec_poll_secs = 0.3').start()
        wait_for(lambda: {"203.0.113.77/32", "198.51.100.0/24"} <= node.banned(), 15, "crowdsec decisions loaded")
        ds = {d["value"]: d for d in node.decisions()}
        assert ds["203.0.113.77"]["origin"] == "crowdsec" and 7100 < ds["203.0.113.77"]["duration"] <= 7200
        assert 1700 < ds["198.51.100.0/24"]["duration"] <= 1800
        entry = {e["network"]: e for e in node.ebpf("list")["entries"]}["203.0.113.77/32"]
        assert entry["expires_at"] == pytest.approx(ds["203.0.113.77"]["until"], abs=2)
        cs.cscli("decisions", "delete", "--ip", "203.0.113.77")
        wait_for(lambda: "203.0.113.77/32" not in node.banned(), 15, "crowdsec deletion revokes")
        assert "198.51.100.0/24" in node.banned()
        assert node.metrics()['feeds_crowdsec_total{kind="poll_errors"}'] == 0
    finally:
        if node is not None:
            node.stop()
        cs.stop()
