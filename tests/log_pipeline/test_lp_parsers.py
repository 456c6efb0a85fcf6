"""The compiled parser and its twin: known lines give known fields; random lines give identical results."""

import calendar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import support
from ironpost.core.extensions import compiled
from ironpost.log_pipeline.parsers import logparse_py as twin
from lp_strategies import batch

ext = compiled("logparse")
IMPLS = [pytest.param(twin, id="twin"), pytest.param(ext, id="ext", marks=pytest.mark.skipif(ext is None, reason="ext not built"))]


def one(impl, line: bytes, year=2024, ref_month=0):
    p = impl.parse(line + b"\n", year, ref_month)
    assert len(p) == 1
    return p.record(0)


@pytest.mark.parametrize("impl", IMPLS)
def test_auth_log_file_format(impl):
    r = one(impl, b"Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2", 2016)
    assert r["format"] == "rfc3164"
    assert r["timestamp"] == calendar.timegm((2016, 12, 10, 6, 55, 46))
    assert (r["host"], r["process"], r["pid"]) == ("LabSZ", "sshd", 24200)
    assert r["message"].startswith("Failed password")
    assert (r["src_ip"], r["port"], r["user"]) == ("173.234.31.186", 38926, "webmaster")
    assert "facility" not in r


@pytest.mark.parametrize("impl", IMPLS)
def test_process_tag_pid_and_rhost(impl):
    r = one(impl, b"Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 "
                  b"tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root", 2005)
    assert (r["process"], r["tag"], r["pid"]) == ("sshd", "pam_unix", 20882)
    assert r["rhost"] == "220-135-151-1.hinet-ip.hinet.net"
    assert "src_ip" not in r  # a host name is not an address
    assert r["user"] == "root"


@pytest.mark.parametrize("impl", IMPLS)
def test_rfc3164_with_pri_and_padded_day(impl):
    r = one(impl, b"<38>Feb  5 01:02:03 gw su: 'su root' failed for lonvick on /dev/pts/8", 2023)
    assert (r["facility"], r["severity"]) == (4, 6)
    assert r["timestamp"] == calendar.timegm((2023, 2, 5, 1, 2, 3))
    assert (r["host"], r["process"]) == ("gw", "su")
    assert "pid" not in r


@pytest.mark.parametrize("impl", IMPLS)
def test_year_inference_previous_year(impl):
    r = one(impl, b"Dec 31 23:59:59 h cron[1]: x", 2025, ref_month=1)
    assert r["timestamp"] == calendar.timegm((2024, 12, 31, 23, 59, 59))


@pytest.mark.parametrize("impl", IMPLS)
def test_rfc5424_full(impl):
    line = (b'<165>1 2003-10-11T22:14:15.003+02:00 mymachine.example.com evntslog 8710 ID47 '
            b'[exampleSDID@32473 iut="3" eventSource="App\\"lication\\]"][ex@1 a="b"] \xef\xbb\xbfAn application event')
    r = one(impl, line)
    assert r["format"] == "rfc5424"
    assert (r["facility"], r["severity"]) == (20, 5)
    assert r["timestamp"] == pytest.approx(calendar.timegm((2003, 10, 11, 20, 14, 15)) + 0.003)
    assert (r["host"], r["process"], r["pid"], r["msgid"]) == ("mymachine.example.com", "evntslog", 8710, "ID47")
    assert r["message"] == "An application event"
    assert r["sd.exampleSDID@32473.eventSource"] == 'App"lication]'
    assert r["sd.ex@1.a"] == "b"


@pytest.mark.parametrize("impl", IMPLS)
def test_rfc5424_nil_values(impl):
    r = one(impl, b"<13>1 - - - - - -")
    assert r["format"] == "rfc5424"
    assert "timestamp" not in r and "host" not in r and "process" not in r
    assert r["message"] == ""


@pytest.mark.parametrize("impl", IMPLS)
def test_json_flatten_and_standard_fields(impl):
    r = one(impl, b'{"@timestamp": "2024-01-02T03:04:05.5Z", "host": {"name": "web1"}, "level": "warning", '
                  b'"msg": "Accepted password for root from 2001:db8::7 port 22 ssh2", "http": {"status": 200}}')
    assert r["format"] == "json"
    assert r["timestamp"] == calendar.timegm((2024, 1, 2, 3, 4, 5)) + 0.5
    assert (r["host"], r["severity"], r["http.status"]) == ("web1", 4, 200)
    assert (r["src_ip"], r["port"], r["user"]) == ("2001:db8::7", 22, "root")


@pytest.mark.parametrize("impl", IMPLS)
def test_json_too_deep_and_broken_are_counted(impl):
    deep = b'{"a":' * 33 + b"1" + b"}" * 33
    ok = b'{"a":' * 32 + b"1" + b"}" * 32
    p = impl.parse(deep + b"\n{broken\n" + ok + b"\n", 2024)
    assert p.stats["json_depth_errors"] == 1 and p.stats["json_errors"] == 1
    assert p.record(0)["format"] == "raw" and p.record(1)["format"] == "raw"
    assert p.record(2)["format"] == "json" and p.record(2)["a" + ".a" * 31] == 1


@pytest.mark.parametrize("impl", IMPLS)
def test_long_lines_cut_and_counted(impl):
    p = impl.parse(b"x" * 70000 + b"\nshort\n", 2024, 0, 65536)
    assert p.stats["cut"] == 1 and len(p) == 2
    assert len(p.record(0)["raw"]) == 65536


@pytest.mark.parametrize("impl", IMPLS)
def test_linux_2k_all_parsed(impl, linux_2k):
    p = impl.parse(linux_2k, 2005)
    assert p.stats["lines"] == 2000 and p.stats["rfc3164"] == 2000
    recs = p.records()
    assert sum(1 for r in recs if r.get("rhost")) > 300
    assert all(r["host"] == "combo" for r in recs)


def test_ext_equals_twin_on_linux_2k(linux_2k):
    support.need(ext is not None, "ironpost._ext.logparse not built (python setup.py build_ext --inplace)")
    a, b = ext.parse(linux_2k, 2005, 6), twin.parse(linux_2k, 2005, 6)
    assert a.stats == b.stats
    assert a.records() == b.records()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buf=batch)
def test_ext_equals_twin_generated(buf):
    support.need(ext is not None, "ironpost._ext.logparse not built")
    a, b = ext.parse(buf, 2020, 3, 200, 8), twin.parse(buf, 2020, 3, 200, 8)
    assert a.stats == b.stats
    assert a.records() == b.records()


@settings(max_examples=300, deadline=None)
@given(sd=st.text(alphabet='[]"\\= ab@1é', min_size=1, max_size=40))
def test_ext_equals_twin_structured_data(sd):
    support.need(ext is not None, "ironpost._ext.logparse not built")
    line = f"<13>1 2024-01-01T00:00:00Z h app - - [{sd} msg\n".encode()
    a, b = ext.parse(line, 2024), twin.parse(line, 2024)
    assert a.records() == b.records()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("line,want", [
    (b"Feb 7 16:01:07 linux-m899 sshd[5106]: User root from 192.0.2.54 not allowed",
     {"host": "linux-m899", "process": "sshd", "pid": 5106, "timestamp": float(calendar.timegm((2024, 2, 7, 16, 1, 7)))}),
    (b"Nov 23 21:50:19 sshd[8148]: Disconnecting: Too many authentication failures [preauth]",
     {"process": "sshd", "pid": 8148, "message": "Disconnecting: Too many authentication failures [preauth]"}),
    (b"Jun 25 23:53:34 [sshd] User root from 1.2.3.4 not allowed", {"process": "sshd", "message": "User root from 1.2.3.4 not allowed"}),
    (b"Mar  3 00:17:22 [sshd]: User root from 211.188.220.49 not allowed", {"process": "sshd"}),
    (b"Jan 10 00:00:00 myhost proftpd[12345] myhost.domain.com (1.2.3.4[1.2.3.4]): USER u (Login failed)",
     {"host": "myhost", "process": "proftpd", "pid": 12345, "message": "myhost.domain.com (1.2.3.4[1.2.3.4]): USER u (Login failed)"}),
    (b"Dec 10 06:55:46 h sshd-session[9]: Failed password for root from 203.0.113.9 port 22 ssh2\r",
     {"host": "h", "process": "sshd-session", "src_ip": "203.0.113.9", "message": "Failed password for root from 203.0.113.9 port 22 ssh2"}),
    (b"2023-11-14T00:20:42.738197+01:00 host sshd[1]: Invalid user x from 203.0.113.9", {"host": "host", "process": "sshd", "format": "rfc3164"}),
])
def test_bsd_shapes_as_files_really_look(impl, line, want):
    r = one(impl, line)
    for k, v in want.items():
        assert r.get(k) == v, (k, r)
    if "host" not in want:
        assert "host" not in r


# --- web server logs and journald export, auto-detected per line ---------------------------------

@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("line,want", [
    (b'12.34.56.78 - bob [20/Jan/2015:19:53:28 +0100] "GET //pma/scripts/setup.php HTTP/1.1" 404 47 "-" "sqlmap/1.7"',
     {"format": "access", "src_ip": "12.34.56.78", "user": "bob", "method": "GET", "path": "//pma/scripts/setup.php",
      "protocol": "HTTP/1.1", "status": 404, "bytes": 47, "referer": "-", "user_agent": "sqlmap/1.7",
      "timestamp": float(calendar.timegm((2015, 1, 20, 18, 53, 28)))}),
    (b'2001:db8::7 - - [01/Dec/2026:00:00:00 -0700] "\\x16\\x03\\x01" 400 157',  # common format, junk request
     {"format": "access", "src_ip": "2001:db8::7", "status": 400, "bytes": 157,
      "timestamp": float(calendar.timegm((2026, 12, 1, 7, 0, 0)))}),
    (b'203.0.113.9 - - [01/Dec/2026:00:00:00 +0000] "GET /a\\" b HTTP/1.1" 200 - "ref" "agent \\"x\\""',
     {"format": "access", "path": '/a\\" b', "status": 200, "user_agent": 'agent \\"x\\"'}),
    (b"2021/09/30 09:23:53 [error] 1234#1234: *5 user \"admin\": password mismatch, client: 198.51.100.7, server: x, "
     b"request: \"GET / HTTP/1.1\", host: \"h\"",
     {"format": "nginx_error", "src_ip": "198.51.100.7", "pid": 1234, "level": "error", "severity": 3,
      "timestamp": float(calendar.timegm((2021, 9, 30, 9, 23, 53)))}),
    (b"[Wed Oct 11 14:32:52.123456 2023] [auth_basic:error] [pid 17:tid 99] [client 192.0.2.4:50210] AH01618: user x "
     b"not found: /admin",
     {"format": "apache_error", "src_ip": "192.0.2.4", "port": 50210, "pid": 17, "tag": "auth_basic", "level": "error",
      "severity": 3, "timestamp": calendar.timegm((2023, 10, 11, 14, 32, 52)) + 0.123456}),
    (b"[Sun Jun 02 09:00:00 2013] [error] [client [2001:db8::80:3]:51478] File does not exist: /var/www/x",
     {"format": "apache_error", "src_ip": "2001:db8::80:3", "port": 51478}),
    (b'{"MESSAGE": "Failed password for root from 203.0.113.9 port 4242 ssh2", "SYSLOG_IDENTIFIER": "sshd", '
     b'"_PID": "812", "_HOSTNAME": "web-1", "__REALTIME_TIMESTAMP": "1764979200123456", "PRIORITY": "5"}',
     {"format": "json", "message": "Failed password for root from 203.0.113.9 port 4242 ssh2", "process": "sshd",
      "pid": 812, "host": "web-1", "timestamp": 1764979200.123456, "severity": 5, "src_ip": "203.0.113.9",
      "user": "root", "port": 4242}),
])
def test_web_and_journald_shapes(impl, line, want):
    r = one(impl, line)
    for k, v in want.items():
        assert r.get(k) == v, (k, r)
    if r["format"] in ("access", "nginx_error", "apache_error"):
        assert r["message"] == line.decode()  # the whole line: the server writes no header rules could rely on


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("line", [
    # attacker-chosen text where the parser must not look for the address
    b'203.0.113.9 - x [01/Dec/2026:00:00:00 +0000] "GET /?from=10.0.0.1 HTTP/1.1" 404 1 "from 10.0.0.1" "rhost=10.0.0.1"',
    b"[Wed Oct 11 14:32:52 2023] [error] [client 203.0.113.9] user [client 10.0.0.1] not found",
    b"[Wed Oct 11 14:32:52 2023] [error] [pid 1] [client 203.0.113.9:1] [client 10.0.0.1] x",
])
def test_web_address_is_where_the_server_writes_it(impl, line):
    assert one(impl, line)["src_ip"] == "203.0.113.9"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("line", [
    b"12.34.56.78 - - [20/Jan/2015:19:53:28 +0100] GET / 404 47",  # request not quoted
    b'12.34.56.78 - - [32/Jan/2015:19:53:28 +0100] "GET /" 404 47',  # no such day
    b'example.com - - [20/Jan/2015:19:53:28 +0100] "GET /" 404 47',  # a name, not an address
    b"2021/13/30 09:23:53 [error] 1#1: x",
    b"[Wed Oct 11 14:32:52 2023] [nolevel] x",
])
def test_almost_web_lines_stay_raw(impl, line):
    r = one(impl, line)
    assert r["format"] == "raw" and r["message"] == line.decode()


@pytest.mark.parametrize("impl", IMPLS)
def test_nginx_error_with_two_client_addresses_names_none(impl):
    # a path (before) or the Host header (after) can spell nginx's own context: no guess
    before = (b'2021/09/30 09:23:53 [error] 7#7: *1 open() "/srv/x, client: 10.0.0.1, server: y" failed (2: No such '
              b'file or directory), client: 203.0.113.9, server: x, request: "GET /x HTTP/1.1", host: "x"')
    after = (b'2021/09/30 09:23:53 [error] 7#7: *1 limiting requests, excess: 5.1 by zone "one", client: 203.0.113.9, '
             b'server: x, request: "GET / HTTP/1.1", host: "a, client: 10.0.0.1, server: b"')
    same = after.replace(b"10.0.0.1", b"203.0.113.9")
    assert "src_ip" not in one(impl, before) and "src_ip" not in one(impl, after)
    assert one(impl, same)["src_ip"] == "203.0.113.9"
