from ironpost.core.config.schema import Field, Section

EBPF = Section(
    "ebpf",
    {
        "enabled": Field("bool", False, "load the XDP program (needs root/CAP_BPF and bcc)"),
        "interface": Field("str", "eth0", "interface to attach to"),
        "xdp_mode": Field("choice", "skb", "skb (generic), native (driver) or hw (offload)", choices=("skb", "native", "hw")),
        "blocklist": Field("cidr_list", [], "IPs and CIDRs dropped in the kernel from start"),
        "sample_rate": Field("int", 1, "send 1 in N packet records to userspace (SYNs and drops always)", min=1, max=1_000_000),
        "auto_block": Field("bool", False, "ban the source IP of any alert in the kernel"),
        "ban_ttl_secs": Field("int", 3600, "how long an automatic ban lasts", min=1),
        "syn_flood_threshold": Field("int", 1000, "SYNs to one destination without completion, per window", min=1),
        "syn_flood_window_secs": Field("float", 10.0, "SYN flood window", min=0.1),
        "port_scan_threshold": Field("int", 50, "distinct destination ports per source, per window", min=1),
        "port_scan_window_secs": Field("float", 60.0, "port scan window", min=0.1),
    },
    doc="network module (eBPF/XDP)",
)
