"""Userspace mirror of the layouts in bpf/ironpost_xdp.c. Change both together."""

from __future__ import annotations

import struct

# struct pkt_rec: ts_ns, saddr[16], daddr[16], sport, dport, len, proto, tcp_flags, action,
# family, vlan, rflags, pad. Little-endian host (x86_64/aarch64), addresses in network order.
REC_FMT = "<Q16s16sHHIBBBBHBx"
REC_SIZE = struct.calcsize(REC_FMT)
assert REC_SIZE == 56

XDP_DROP = 1
XDP_PASS = 2
REC_F_HANDSHAKE_DONE = 1

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
PROTO_NAMES = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp", IPPROTO_ICMP: "icmp", IPPROTO_ICMPV6: "icmp6"}

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# Counter slots of the per-CPU `stats` array.
PROTO_CLASSES = ("tcp", "udp", "icmp", "icmp6", "other", "non_ip")
STAT_NAMES: dict[int, str] = {}
for _i, _p in enumerate(PROTO_CLASSES):
    STAT_NAMES[2 * _i] = f"packets_{_p}"
    STAT_NAMES[2 * _i + 1] = f"bytes_{_p}"
STAT_NAMES.update({
    12: "dropped_packets",
    13: "dropped_bytes",
    14: "parse_errors",
    15: "ringbuf_full",
    16: "ipv4_packets",
    17: "ipv6_packets",
    18: "records_sent",
    19: "handshakes_completed",
})

CONFIG_SAMPLE_RATE = 0
CONFIG_SCAN_REFRESH_MS = 1  # UDP (source, port) pairs resent under sampling after this long

# LPM trie keys: u32 prefixlen + address bytes; values: struct block_val {u64 hits; u64 expires_ns}.
LPM_V4_KEY = struct.Struct("<I4s")
LPM_V6_KEY = struct.Struct("<I16s")
BLOCK_VAL = struct.Struct("<QQ")

PROG_NAME = "ironpost_xdp"
PIN_NAMES = ("block_v4", "block_v6", "stats", "config")
DEFAULT_PIN_DIR = "/sys/fs/bpf/ironpost"
