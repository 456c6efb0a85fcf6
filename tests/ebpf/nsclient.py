"""Traffic generator run INSIDE the test's network namespace (never elsewhere).

  nsclient.py udp  DST PORT N            N datagrams
  nsclient.py tcp  DST PORT N            N full TCP handshakes (connect + close)
  nsclient.py syn  SRC DST PORT N        N bare SYNs from a raw socket (handshakes never complete)
  nsclient.py scan DST PORT0 N           connect() to N consecutive ports (closed: RST)
  nsclient.py udpscan DST PORT0 N R     R datagrams to each of N consecutive ports
  nsclient.py icmp DST N                 N echo requests
  nsclient.py frame IFACE HEX N          N copies of a raw Ethernet frame (AF_PACKET)
  nsclient.py flood IFACE HEX N SECS     same, as fast as possible, stopping at N frames or SECS
  nsclient.py paced DST PORT N GAP_MS    N datagrams, GAP_MS apart (latency probes)
Every mode is bounded by N and prints a JSON summary.
"""

import ipaddress
import json
import os
import socket
import struct
import sys


def fam(addr):
    return socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp(dst, port, n):
    s = socket.socket(fam(dst), socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b"ironpost-test-%d" % i, (dst, port))
    return {"sent": n}


def tcp(dst, port, n):
    ok = fail = 0
    for _ in range(n):
        try:
            socket.create_connection((dst, port), timeout=0.5).close()
            ok += 1
        except OSError:
            fail += 1
    return {"ok": ok, "fail": fail}


def syn(src, dst, port, n):
    f = fam(dst)
    s = socket.socket(f, socket.SOCK_RAW, socket.IPPROTO_TCP)
    sa, da = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    for i in range(n):
        sport = 20000 + i % 40000
        hdr = struct.pack("!HHIIBBHHH", sport, port, 1000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)
        if f == socket.AF_INET:
            pseudo = sa + da + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr))
        else:
            pseudo = sa + da + struct.pack("!I3xB", len(hdr), socket.IPPROTO_TCP)
        c = csum(pseudo + hdr)
        hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
        s.sendto(hdr, (dst, 0))
    return {"sent": n}


def scan(dst, port0, n):
    refused = 0
    for p in range(port0, port0 + n):
        s = socket.socket(fam(dst), socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect((dst, p))
        except ConnectionRefusedError:
            refused += 1
        except OSError:
            pass
        finally:
            s.close()
    return {"refused": refused}


def udpscan(dst, port0, n, repeat):
    s = socket.socket(fam(dst), socket.SOCK_DGRAM)
    for p in range(port0, port0 + n):
        for _ in range(repeat):
            s.sendto(b"ironpost-scan", (dst, p))
    return {"sent": n * repeat}


def icmp(dst, n):
    f = fam(dst)
    proto = socket.IPPROTO_ICMP if f == socket.AF_INET else socket.IPPROTO_ICMPV6
    s = socket.socket(f, socket.SOCK_RAW, proto)
    typ = 8 if f == socket.AF_INET else 128
    for i in range(n):
        pkt = struct.pack("!BBHHH", typ, 0, 0, os.getpid() & 0xFFFF, i) + b"ironpost"
        if f == socket.AF_INET:  # the kernel fills the ICMPv6 checksum itself
            pkt = pkt[:2] + struct.pack("!H", csum(pkt)) + pkt[4:]
        s.sendto(pkt, (dst, 0))
    return {"sent": n}


def frame(iface, hexframe, n):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    raw = bytes.fromhex(hexframe)
    for _ in range(n):
        s.send(raw)
    return {"sent": n}


def flood(iface, hexframe, n, max_secs):
    import time

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    raw = bytes.fromhex(hexframe)
    send = s.send
    t0 = time.perf_counter()
    deadline = t0 + max_secs
    sent = 0
    while sent < n:
        for _ in range(1000):
            send(raw)
        sent += 1000
        if time.perf_counter() > deadline:
            break
    return {"sent": sent, "secs": time.perf_counter() - t0}


def paced(dst, port, n, gap_ms):
    import time

    s = socket.socket(fam(dst), socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b"probe-%d" % i, (dst, port))
        time.sleep(gap_ms / 1000)
    return {"sent": n}


def main(argv):
    mode, args = argv[0], argv[1:]
    if mode == "udp":
        r = udp(args[0], int(args[1]), int(args[2]))
    elif mode == "tcp":
        r = tcp(args[0], int(args[1]), int(args[2]))
    elif mode == "syn":
        r = syn(args[0], args[1], int(args[2]), int(args[3]))
    elif mode == "scan":
        r = scan(args[0], int(args[1]), int(args[2]))
    elif mode == "udpscan":
        r = udpscan(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif mode == "icmp":
        r = icmp(args[0], int(args[1]))
    elif mode == "frame":
        r = frame(args[0], args[1], int(args[2]))
    elif mode == "flood":
        r = flood(args[0], args[1], int(args[2]), float(args[3]))
    elif mode == "paced":
        r = paced(args[0], int(args[1]), int(args[2]), float(args[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(r))


if __name__ == "__main__":
    main(sys.argv[1:])
