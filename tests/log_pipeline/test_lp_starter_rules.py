"""Each shipped rule on realistic lines: fires where it should, and only there."""

import calendar
import re
from collections import Counter, defaultdict

import pytest

import lp_support  # noqa: F401  (puts bench/ on sys.path)
import authlog
from lp_support import PACKET_RULES, RULES
from ironpost.core.events import PacketEvent
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules import load_rules


@pytest.fixture(scope="module")
def rules():
    rs, problems = load_rules(RULES)
    assert not problems
    return rs


def only(rules, rid):
    return [r for r in rules if r.id == rid]


def bsd(ts: float) -> str:
    import time

    t = time.gmtime(ts)
    return f"{time.strftime('%b', t)} {t.tm_mday:>2} {time.strftime('%H:%M:%S', t)}"


T0 = calendar.timegm((2016, 12, 10, 6, 0, 0))


def test_ssh_brute_force_once_per_attacker(rules):
    lines = []
    # three attackers hammer for five minutes (one failure every 10 s)
    for k in range(30):
        for n, ip in enumerate(("203.0.113.7", "198.51.100.23", "2001:db8::66")):
            who = "invalid user admin" if n else "root"
            lines.append((T0 + k * 10 + n, f"sshd[{2000 + k}]: Failed password for {who} from {ip} port {40000 + k} ssh2"))
    # below threshold: 4 failures within a minute; 6 failures spread over ten minutes
    lines += [(T0 + k * 5, "sshd[1]: Failed password for bob from 192.0.2.10 port 22 ssh2") for k in range(4)]
    lines += [(T0 + k * 120, "sshd[1]: Failed password for bob from 192.0.2.11 port 22 ssh2") for k in range(6)]
    # other sshd noise from an attacker IP does not count
    lines += [(T0 + 1 + k, "sshd[1]: Connection closed by 192.0.2.10 port 22 [preauth]") for k in range(10)]
    lines.sort()
    buf = "".join(f"{bsd(t)} LabSZ {m}\n" for t, m in lines).encode()
    alerts = Pipeline(only(rules, "ssh_brute_force"), year=2016).process(buf, "auth.log")
    assert Counter(a.src_ip for a in alerts) == {"203.0.113.7": 1, "198.51.100.23": 1, "2001:db8::66": 1}
    a = next(a for a in alerts if a.src_ip == "203.0.113.7")
    assert a.count == 5 and a.group == {"src_ip": "203.0.113.7"} and a.severity == "high"
    assert a.first_seen == T0 and a.last_seen == T0 + 40


def reference_attackers(buf: bytes, year: int) -> set:
    import re

    rx = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) \S+ sshd\[\d+\]: Failed password for (?:invalid user )?\S+ from (\S+) port \d+ ssh2")
    times = defaultdict(list)
    for line in buf.decode().splitlines():
        m = rx.match(line)
        if m:
            import time

            ts = calendar.timegm(time.strptime(f"{year} {m.group(1)}", "%Y %b %d %H:%M:%S"))
            times[m.group(2)].append(ts)
    out = set()
    for ip, ts in times.items():
        ts.sort()
        if any(ts[i + 4] - ts[i] <= 60 for i in range(len(ts) - 4)):
            out.add(ip)
    return out


def test_ssh_brute_force_on_generated_auth_log_matches_reference(rules):
    buf = authlog.generate(20000, 500, seed=3)
    pipe = Pipeline(only(rules, "ssh_brute_force"), year=2016)
    alerts = []
    chunks, start = [], 0  # batches cut on line ends, as collectors deliver them
    while start < len(buf):
        end = buf.find(b"\n", min(start + (1 << 16), len(buf) - 1)) + 1 or len(buf)
        chunks.append(buf[start:end])
        start = end
    for c in chunks:
        alerts += pipe.process(c, "gen")
    expected = reference_attackers(buf, 2016)
    assert len(expected) > 20
    assert {a.src_ip for a in alerts} == expected


def test_invalid_user_enumeration(rules):
    users = ["admin", "test", "oracle", "guest", "pi", "ubnt"]
    buf = "".join(f"{bsd(T0 + i)} h sshd[9]: Invalid user {u} from 203.0.113.9 port 5{i} \n" for i, u in enumerate(users))
    buf += "".join(f"{bsd(T0 + i)} h sshd[9]: Invalid user admin from 198.51.100.1\n" for i in range(10))
    alerts = Pipeline(only(rules, "ssh_invalid_user_enumeration"), year=2016).process(buf.encode())
    assert [a.src_ip for a in alerts] == ["203.0.113.9"]


SUDO = [
    "Mar  3 10:01:02 web1 sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice",
    "Mar  3 10:01:09 web1 sudo:    alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
    "Mar  3 10:02:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
    "Mar  3 10:02:00 web1 sshd[3]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4",
]


def test_sudo_auth_failure(rules):
    matched = []
    Pipeline(only(rules, "sudo_auth_failure"), year=2024).process("\n".join(SUDO).encode(), "", lambda r, rec, s: matched.append(rec))
    assert [m["raw"] for m in matched] == SUDO[:2]
    assert matched[0]["user"] == "alice"


def test_su_to_root(rules, linux_2k):
    lines = [
        "Mar  3 10:05:00 web1 su: (to root) alice on pts/0",
        "Mar  3 10:05:00 web1 su[4242]: pam_unix(su-l:session): session opened for user root(uid=0) by alice(uid=1000)",
        "Mar  3 10:06:00 web1 su[4243]: pam_unix(su:session): session opened for user rootkit by alice(uid=1000)",
        "Mar  3 10:06:00 web1 sshd[4243]: pam_unix(sshd:session): session opened for user root by (uid=0)",
    ]
    alerts = Pipeline(only(rules, "su_to_root"), year=2024).process("\n".join(lines).encode())
    assert len(alerts) == 2
    # Linux_2k has 86 su sessions, all for cyrus or news (its one root session is login's): none may alert
    su_users = re.findall(rb" su\(pam_unix\)\[\d+\]: session opened for user (\S+)", linux_2k)
    assert len(su_users) == 86 and set(su_users) == {b"cyrus", b"news"}
    assert Pipeline(only(rules, "su_to_root"), year=2005).process(linux_2k) == []
    # the same log with one root session in its own format: exactly that one alerts
    root = b"Jul 27 14:43:00 combo su(pam_unix)[4242]: session opened for user root by alice(uid=500)"
    real = Pipeline(only(rules, "su_to_root"), year=2005).process(linux_2k.rstrip(b"\n") + b"\n" + root + b"\n")
    assert [a.details["message"] for a in real] == ["session opened for user root by alice(uid=500)"]


def test_new_user_or_group(rules):
    lines = [
        "Mar  3 11:00:00 web1 groupadd[2344]: new group: name=backdoor, GID=1001",
        "Mar  3 11:00:00 web1 useradd[2345]: new user: name=backdoor, UID=1001, GID=1001, home=/home/backdoor, shell=/bin/bash, from=/dev/pts/0",
        "Mar  3 11:00:01 web1 useradd[2345]: add 'backdoor' to group 'sudo'",
    ]
    matched = []
    alerts = Pipeline(only(rules, "new_user_or_group"), year=2024).process("\n".join(lines).encode(), "",
                                                                          lambda r, rec, s: matched.append(rec))
    assert len(alerts) == 2
    assert [m["new_name"] for m in matched] == ["backdoor", "backdoor"]


def test_ssh_root_login(rules):
    lines = [
        "Dec 10 09:32:20 LabSZ sshd[24680]: Accepted publickey for root from 198.51.100.4 port 50022 ssh2: RSA SHA256:abc",
        "Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2",
        "Dec 10 09:32:20 LabSZ sshd[24680]: Failed password for root from 198.51.100.4 port 50022 ssh2",
    ]
    alerts = Pipeline(only(rules, "ssh_root_login"), year=2016).process("\n".join(lines).encode())
    assert [(a.src_ip, a.rule_id) for a in alerts] == [("198.51.100.4", "ssh_root_login")]


def test_pam_failures_find_the_hosts_hammering_linux_2k(rules, linux_2k):
    alerts = Pipeline(only(rules, "pam_legacy_auth_failure"), year=2005).process(linux_2k, "Linux_2k.log")
    hosts = {a.group["src_ip"] or a.group["src_host"] for a in alerts}
    assert {"220-135-151-1.hinet-ip.hinet.net", "218.188.2.4", "60.30.224.116"} <= hosts
    # the reference: rhosts with 5 failures inside 60 s, computed from the raw lines
    import re
    import time

    per = defaultdict(list)
    for line in linux_2k.decode().splitlines():
        m = re.match(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) .*authentication failure;.* rhost=(\S+)", line)
        if m:
            per[m.group(2)].append(calendar.timegm(time.strptime("2005 " + m.group(1), "%Y %b %d %H:%M:%S")))
    expected = {h for h, ts in per.items() if any(sorted(ts)[i + 4] - sorted(ts)[i] <= 60 for i in range(len(ts) - 4))}
    assert hosts == expected


def syn(src, dst, port, ts, flags=2):
    return PacketEvent(src_ip=src, dst_ip=dst, dst_port=port, src_port=40000, protocol="tcp", tcp_flags=flags, timestamp=ts)


@pytest.fixture(scope="module")
def packet_rules():
    rs, problems = load_rules(PACKET_RULES)
    assert not problems
    return rs


def test_port_scan_from_packet_events(packet_rules):
    pipe = Pipeline(only(packet_rules, "port_scan"), year=2024)
    alerts = []
    for i, port in enumerate(range(20, 60)):
        alerts += pipe.process_packet(syn("10.200.0.2", "10.200.0.1", port, 1000 + i * 0.1))
    for i in range(100):  # one port, many times: not a scan
        alerts += pipe.process_packet(syn("10.200.0.3", "10.200.0.1", 443, 1000 + i * 0.01))
    for i, port in enumerate(range(20, 60)):  # SYN-ACKs do not count
        alerts += pipe.process_packet(syn("10.200.0.4", "10.200.0.1", port, 1000 + i * 0.1, flags=0x12))
    assert [a.src_ip for a in alerts] == ["10.200.0.2"]
    assert alerts[0].trace_id and alerts[0].count == 20


def test_syn_flood_from_packet_events(packet_rules):
    pipe = Pipeline(only(packet_rules, "syn_flood"), year=2024)
    alerts = []
    for i in range(1500):
        alerts += pipe.process_packet(syn(f"10.200.{i % 200}.{i % 250}", "10.200.0.1", 80, 2000 + i * 0.0005))
    for i in range(500):
        alerts += pipe.process_packet(syn("10.200.9.9", "10.200.0.1", 22, 2000 + i * 0.001))
    assert len(alerts) == 1
    assert alerts[0].group == {"dst_ip": "10.200.0.1", "dst_port": 80}
