"""Syslog into the real daemon over loopback at the highest rate this machine sustains.

TCP: several connections at once, half newline framing and half octet counting (RFC 6587), for
~10 s (60 s with IRONPOST_RELIABILITY_LONG=1). Every line carries a sequence number; one in
MARK_EVERY carries a marker that a rule turns into one alert each. Counted from /metrics (the
daemon's own counters, read over the control socket) and from the alert store:
- lost or duplicated or glued lines change the line count, which must equal what was sent;
- every marker alert is stored exactly once and its message is exactly the line sent
  (a glued line would carry its neighbour's text).
UDP: more datagrams than the daemon can take; every one sent is received or counted as dropped
(by us: the queue; by the kernel: /proc/net/udp), and the drops are in /metrics.
"""

from __future__ import annotations

import collections
import re
import socket
import threading
import time

from reliability_support import (LONG, DaemonProc, connect, free_port, marker_rules, metric, metrics, record, settle,
                                 stored_alerts, wait_until, write_config)

MARK_EVERY = 100
CONNS = 4  # 2 newline, 2 octet counting
SECONDS = 60.0 if LONG else 10.0
CHUNK = 2000  # messages per sendall


def message(conn: int, seq: int) -> bytes:
    mark = " RELMARK" if seq % MARK_EVERY == 0 else ""
    return f"<13>Dec  6 12:00:00 web app[{conn}]: c={conn} seq={seq}{mark} payload abcdefghij".encode()


def sender(conn_id: int, port: int, octet: bool, seconds: float, sent: list) -> None:
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    seq = 0
    deadline = time.monotonic() + seconds
    max_msgs = 50_000_000  # a count bound besides the time bound
    try:
        while time.monotonic() < deadline and seq < max_msgs:
            msgs = [message(conn_id, seq + i) for i in range(CHUNK)]
            if octet:
                buf = b"".join(b"%d %s" % (len(m), m) for m in msgs)
            else:
                buf = b"\n".join(msgs) + b"\n"
            s.sendall(buf)
            seq += CHUNK
    finally:
        s.close()
        sent[conn_id] = seq


def test_syslog_tcp_under_load_loses_duplicates_and_glues_nothing(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    cfg = write_config(tmp_path / "c.toml", data, log_level="warning",
                       log_pipeline=f'enabled = true\nrules_dir = "{marker_rules(tmp_path)}"\nsyslog_tcp = "127.0.0.1:{port}"\n'
                                    f'tcp_max_connections = 64')
    d = DaemonProc(cfg, data)
    try:
        connect(port).close()  # listener is up (that connection sends nothing)
        sent = [0] * CONNS
        threads = [threading.Thread(target=sender, args=(i, port, i % 2 == 1, SECONDS, sent)) for i in range(CONNS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
        total = sum(sent)
        assert total > 0 and not any(t.is_alive() for t in threads)
        settle(d, "lp_lines_total", total, timeout=180)
        elapsed = time.monotonic() - t0
        time.sleep(0.5)  # anything extra (a duplicate) would show up now
        m = metrics(d)
        markers = sum((n + MARK_EVERY - 1) // MARK_EVERY for n in sent)
        deadline = time.monotonic() + 60
        while len(stored_alerts(data)) < markers and time.monotonic() < deadline:
            time.sleep(0.2)
        alerts = stored_alerts(data)
        lines = metric(m, "lp_lines_total")
        tcp_lines = metric(m, "lines_total", "syslog_tcp")
        msgs = collections.Counter(a["details"]["message"] for a in alerts)
        want = {message(c, s).split(b": ", 1)[1].decode() for c in range(CONNS) for s in range(0, sent[c], MARK_EVERY)}
        duplicated = sum(n - 1 for n in msgs.values() if n > 1)
        rate = total / elapsed
        record("syslog_tcp_load", seconds=round(SECONDS, 1), connections=CONNS, sent=total, lines_processed=int(lines),
               rate_msgs_per_s=round(rate), alerts_expected=markers, alerts_stored=len(alerts),
               alerts_duplicated=duplicated, lines_cut=metric(m, "lp_lines_cut_total"),
               framing_errors=metric(m, "framing_errors_total"), buffer_dropped=metric(m, "lp_buffer_dropped_lines_total"),
               paused=metric(m, "paused_total"))
        assert lines == total and tcp_lines == total, (lines, tcp_lines, total)
        assert metric(m, "lp_buffer_dropped_lines_total") == 0
        assert metric(m, "framing_errors_total") == 0 and metric(m, "lp_lines_cut_total") == 0
        assert set(msgs) == want and duplicated == 0 and len(alerts) == markers
        assert rate >= 50_000, f"only {rate:.0f} msg/s"
    finally:
        d.stop()


def test_syslog_udp_drops_are_counted_and_exposed(tmp_path):
    port = free_port(socket.SOCK_DGRAM)
    data = tmp_path / "data"
    data.mkdir()
    cfg = write_config(tmp_path / "c.toml", data, log_level="warning",
                       log_pipeline=f'enabled = true\nrules_dir = "{marker_rules(tmp_path)}"\nsyslog_udp = "127.0.0.1:{port}"\n'
                                    f'udp_queue_size = 1000')
    d = DaemonProc(cfg, data)
    try:
        wait_until(lambda: any("kernel_drops" in k for k in metrics(d)), timeout=10, what="UDP collector bound")
        n = 300_000 if not LONG else 3_000_000
        payload = [message(9, i) for i in range(1000)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            deadline = time.monotonic() + 60
            sent = 0
            while sent < n and time.monotonic() < deadline:
                try:
                    s.sendto(payload[sent % 1000], ("127.0.0.1", port))
                    sent += 1
                except BlockingIOError:
                    time.sleep(0.001)

        def settled():
            m = metrics(d)
            got = metric(m, "datagrams_total") + metric(m, "drops_total") + metric(m, "kernel_drops")
            return m if got >= sent and metric(m, "queue_depth") == 0 else None
        m = wait_until(settled, timeout=60, what="every datagram received or counted as dropped")
        received, queue_drops, kernel = metric(m, "datagrams_total"), metric(m, "drops_total"), metric(m, "kernel_drops")
        buffer_dropped = metric(m, "lp_buffer_dropped_lines_total")
        record("syslog_udp_drops", sent=sent, received=int(received), queue_drops=int(queue_drops),
               kernel_drops=int(kernel), buffer_dropped=int(buffer_dropped), lines_processed=int(metric(m, "lp_lines_total")))
        assert received + queue_drops + kernel == sent
        # what was received reached the rules engine, or was dropped from its buffer and counted
        assert metric(m, "lp_lines_total") + buffer_dropped == received
        body = _http_metrics(d)
        assert re.search(r'^ironpost_lp_collector_drops_total\{collector="syslog_udp[^}]*\} \d+$', body, re.M), body[:2000]
        assert re.search(r'^ironpost_lp_collector_kernel_drops\{collector="syslog_udp[^}]*\} \d+$', body, re.M)
    finally:
        d.stop()


def _http_metrics(d: DaemonProc) -> str:
    http = d.request({"cmd": "status"})["http"]
    host, port = http.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        out = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            b = s.recv(65536)
            if not b:
                break
            out += b
    return out.decode().split("\r\n\r\n", 1)[1]
