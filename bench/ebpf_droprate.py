"""Network module: XDP drop rate with 1 / 10k / 1M blocked CIDRs, nftables with 10k rules
dropping the same source, and packet-to-PacketEvent latency. Root only.

  sudo .venv/bin/python bench/ebpf_droprate.py [--packets 300000] [--secs 8] [--json out.json]

Everything happens on a veth pair into a namespace this script creates (10.200.x.x only) and
removes. Each flood is bounded by --packets and --secs. The flood is one AF_PACKET sender in
the namespace; veth delivers on the sender's CPU, so the sender's rate includes the receive
side's cost: a cheaper drop path shows as a higher rate. Blocklist entries that are never
sent traffic are drawn from 10.0.0.0/8 (outside 10.200.0.0/16); nftables rules sit on a
netdev ingress hook of the test veth only, so the host's own firewall is never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "ebpf")]

from ebpf_netns import bcc_problem, drop_veth, make_veth, sweep_leftovers, udp4_frame  # noqa: E402


def filler(n: int, seed: int = 11):
    """n distinct /32s in 10.0.0.0/8 outside 10.200.0.0/16."""
    rnd = random.Random(seed)
    seen = set()
    while len(seen) < n:
        a = rnd.randrange(1 << 24) | (10 << 24)
        if (a >> 16) & 0xFF != 200:
            seen.add(a)
    return [ipaddress.IPv4Network((a, 32)) for a in seen]


def flood(veth, frame: bytes, packets: int, secs: float) -> dict:
    return veth.client("flood", veth.ns_if, frame.hex(), packets, secs, timeout=secs + 30)


def nft(*args: str, stdin: str | None = None) -> str:
    r = subprocess.run(["nft", *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"nft {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def nft_rate(veth, frame, rules: int, packets: int, secs: float) -> dict:
    table = f"ironpost_bench_{os.getpid()}"
    lines = [f"table netdev {table} {{", f'  chain ingress {{ type filter hook ingress device "{veth.host_if}" priority 0;']
    lines += [f"    ip saddr {n.network_address} drop" for n in filler(rules - 1, seed=13)]
    lines += [f"    ip saddr {veth.ns_ip} counter drop", "  }", "}"]
    nft("-f", "-", stdin="\n".join(lines) + "\n")
    try:
        r = flood(veth, frame, packets, secs)
        out = nft("list", "table", "netdev", table)
        dropped = int(out.split(f"ip saddr {veth.ns_ip} counter packets ")[1].split()[0])
    finally:
        nft("delete", "table", "netdev", table)
    return {**r, "dropped": dropped, "pps": r["sent"] / r["secs"]}


def xdp_rate(loader, veth, frame, packets, secs, repeat: int = 3) -> dict:
    """Median of `repeat` floods (the machine is shared: one run is noisy)."""
    runs = []
    for _ in range(repeat):
        before = loader.stats.read()["dropped_packets"]
        r = flood(veth, frame, packets, secs)
        time.sleep(0.1)
        runs.append({**r, "dropped": loader.stats.read()["dropped_packets"] - before, "pps": r["sent"] / r["secs"]})
    runs.sort(key=lambda r: r["pps"])
    return {**runs[len(runs) // 2], "all_pps": [round(r["pps"]) for r in runs]}


async def latency(loader, veth, probes: int) -> dict:
    from ironpost.core.bus import Bus
    from ironpost.core.config import parse_config
    from ironpost.core.module import ModuleContext
    from ironpost.ebpf.module import EbpfModule

    cfg = parse_config({"ebpf": {"enabled": True, "interface": veth.host_if, "packet_events_per_sec": 100000}})
    bus = Bus(100000)
    sub = bus.subscribe("packets", "bench")
    module = EbpfModule(cfg, loader=loader)
    with tempfile.TemporaryDirectory() as tmp:
        task = asyncio.create_task(module.run(ModuleContext(config=cfg, bus=bus, data_dir=Path(tmp))))
        await asyncio.wait_for(module.running.wait(), 10)
        lat = []
        sender = asyncio.create_task(asyncio.to_thread(veth.client, "paced", veth.host_ip, 7777, probes, 5))
        try:
            while len(lat) < probes:
                ev = await asyncio.wait_for(sub.get(), 10)
                if ev.dst_port == 7777 and ev.src_ip == veth.ns_ip:
                    lat.append(time.time() - ev.timestamp)
        finally:
            await sender
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    lat.sort()
    return {"probes": len(lat), "median_us": statistics.median(lat) * 1e6,
            "p99_us": lat[int(len(lat) * 0.99) - 1] * 1e6, "max_us": lat[-1] * 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--secs", type=float, default=8.0)
    ap.add_argument("--big", type=int, default=1_000_000, help="entries in the largest blocklist")
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="XDP floods per configuration (median reported)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    problem = bcc_problem()
    if problem:
        print(f"skipped: {problem}")
        return 0
    if shutil.which("nft") is None:
        print("skipped: nft missing (apt-get install nftables)")
        return 0
    from ironpost.ebpf.loader import XdpLoader

    sweep_leftovers()
    veth = make_veth()
    pin_dir = f"/sys/fs/bpf/ironpost-test-{os.getpid()}"
    loader = None
    res: dict = {}
    try:
        frame = udp4_frame(veth, [], 9, payload=b"x" * 18)  # 60-byte frame
        res["nft_10k_rules"] = nft_rate(veth, frame, 10_000, a.packets, a.secs)
        loader = XdpLoader(veth.host_if, "skb", pin_dir, ringbuf_pages=256)
        loader.compile()
        loader.set_sample_rate(1_000_000)  # drops are always reported; keep the ring from dominating
        loader.attach()
        loader.blocklist.add(veth.ns_ip)
        res["xdp_1_cidr"] = xdp_rate(loader, veth, frame, a.packets, a.secs, a.repeat)
        big = filler(a.big)
        t0 = time.perf_counter()
        loader.blocklist.add_many(big[:9_999])
        res["xdp_10k_cidrs"] = xdp_rate(loader, veth, frame, a.packets, a.secs, a.repeat)
        loader.blocklist.add_many(big[9_999:])
        res["blocklist_load_secs"] = time.perf_counter() - t0
        res[f"xdp_{a.big // 1000}k_cidrs"] = xdp_rate(loader, veth, frame, a.packets, a.secs, a.repeat)
        loader.set_sample_rate(1)
        loader.detach()
        for e in [veth.ns_ip]:
            loader.blocklist.remove(e)
        res["event_latency"] = asyncio.run(latency(loader, veth, a.probes))
    finally:
        if loader is not None:
            loader.close()
        shutil.rmtree(pin_dir, ignore_errors=True)
        drop_veth(veth)
    res["ratio_xdp10k_over_nft10k"] = res["xdp_10k_cidrs"]["pps"] / res["nft_10k_rules"]["pps"]
    for k, v in res.items():
        if isinstance(v, dict) and "pps" in v:
            runs = f"  (runs: {', '.join(f'{p:,}' for p in v['all_pps'])})" if "all_pps" in v else ""
            print(f"{k:<18} {v['pps']:>12,.0f} pkt/s  sent {v['sent']:>8}  dropped {v['dropped']:>8}  in {v['secs']:.2f}s{runs}")
    lat = res["event_latency"]
    print(f"event latency (XDP -> PacketEvent on the bus), {lat['probes']} probes: median {lat['median_us']:.0f} us, "
          f"p99 {lat['p99_us']:.0f} us, max {lat['max_us']:.0f} us")
    print(f"blocklist load of {a.big:,} entries: {res['blocklist_load_secs']:.1f} s")
    print(f"ratio XDP(10k CIDRs) / nftables(10k rules) packet rate: {res['ratio_xdp10k_over_nft10k']:.2f}x")
    if a.json:
        a.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
