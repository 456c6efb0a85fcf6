"""Network module: an XDP program (bcc) with kernel blocklists, a packet record stream,
SYN-flood and port-scan detectors, and automatic bans.

Only loader.py imports bcc (lazily); maps.py and the CLI talk to pinned maps through the
raw bpf(2) syscall, so blocklist editing works without bcc or a running daemon.
"""
