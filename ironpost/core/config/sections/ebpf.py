from ironpost.core.config.schema import Alias, Field, Section

PAGE = 4096


def _power_of_two(v):
    return None if v > 0 and v & (v - 1) == 0 else "must be a power of two"


EBPF = Section(
    "ebpf",
    {
        "enabled": Field("bool", False, "load the XDP program (needs root/CAP_BPF and bcc)"),
        "interface": Field("str", "eth0", "interface to attach to"),
        "xdp_mode": Field("choice", "skb", "skb (generic), native (driver) or hw (offload)", choices=("skb", "native", "hw")),
        "ring_buffer_size": Field("int", 2048 * PAGE, "kernel-to-daemon ring buffer in bytes (power of two, at least one "
                                  "4 KiB page; 8388608 = 8 MiB, ~131k records)", min=PAGE, max=262144 * PAGE,
                                  check=_power_of_two),
        "blocklist": Field("cidr_list", [], "IPs and CIDRs dropped in the kernel from start"),
        "sample_rate": Field("int", 1, "send 1 in N packet records to userspace (always sent: SYNs, completed handshakes, drops, and the first UDP packet of each source/port pair)", min=1, max=1_000_000),
        "packet_events_per_sec": Field(
            "int", 2000, "at most this many PacketEvents per second on the bus topic \"packets\" "
            "(detectors still see every record); 0 publishes none but the packet that triggered each alert, "
            "which is always published", min=0, max=10_000_000),
        "auto_block": Field("bool", False, "ban the source IP of any alert in the kernel"),
        "ban_ttl_secs": Field("int", 3600, "how long an automatic ban lasts", min=1),
        "ban_exempt": Field("cidr_list", ["127.0.0.0/8", "::1/128"], "sources auto_block never bans (your own networks, "
                            "the allowlist); `cli net block` of one needs --force"),
        "ban_exempt_host": Field("bool", True, "also exempt every address of this host's interfaces, its default "
                                 "gateways and the peer of the SSH session the daemon was started from"),
        "ban_ttl_factor": Field("float", 2.0, "repeat offenders: the n-th automatic ban of a host lasts "
                                "ban_ttl_secs * factor^(n-1) (1 = no escalation); counts kept in data_dir", min=1, max=100),
        "ban_ttl_max_secs": Field("int", 604800, "longest an escalated automatic ban lasts", min=1),
        "syn_flood_auto_block": Field("bool", False, "let SYN-flood alerts ban their top source (sources are easily "
                                      "spoofed: opt in knowingly)"),
        "port_scan_auto_block": Field("bool", False, "let port-scan alerts ban the scanning source (spoofable with UDP "
                                      "and bare SYNs: opt in knowingly)"),
        "detector_bans_per_minute": Field("int", 10, "at most this many new bans per minute from each packet detector; "
                                          "more are counted and one alert per minute says the cap was reached",
                                          min=1, max=100_000),
        "syn_flood_threshold": Field("int", 1000, "SYNs to one destination without completion, per window", min=1),
        "syn_flood_window_secs": Field("float", 10.0, "SYN flood window, sliding over packet time", min=0.1),
        "port_scan_threshold": Field("int", 50, "distinct destination ports per source, per window", min=1),
        "port_scan_window_secs": Field("float", 60.0, "port scan window, sliding over packet time", min=0.1),
        "detector_max_keys": Field("int", 16384, "most destinations (SYN flood) and sources (port scan) each detector "
                                   "tracks at once; beyond it the least recently active is evicted and counted",
                                   min=16, max=1_000_000),
        "backend": Field("choice", "xdp", "where bans are enforced: xdp (the kernel blocklist) or memory (kept and "
                         "served by the daemon only, for hosts where a CrowdSec bouncer or firewall enforces them)",
                         choices=("xdp", "memory")),
        "pin_dir": Field("path", "/sys/fs/bpf/ironpost", "bpffs dir where the blocklist and counters are pinned "
                         "(the CLI edits them there when no daemon runs)"),
    },
    doc="network module (eBPF/XDP)",
    aliases={
        # our earlier name, in 4 KiB pages
        "ringbuf_pages": Alias(Field("int", min=1, max=262144, check=_power_of_two), "ring_buffer_size",
                               to_canonical=lambda pages: pages * PAGE),
    },
)
