"""Real-kernel fixtures: a network namespace joined by a veth pair (ebpf_netns.py), one XDP
compile per session, the program attached per test and detached after it."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

import support
from ebpf_netns import bcc_problem, drop_veth, make_veth, sweep_leftovers


@pytest.fixture(scope="session")
def veth():
    problem = bcc_problem()
    support.need(problem is None, problem or "")
    sweep_leftovers()
    v = make_veth()
    try:
        yield v
    finally:
        drop_veth(v)


@pytest.fixture(scope="session")
def loader(veth):
    """The XDP program compiled once for the session, its maps pinned under a test pin dir."""
    from ironpost.ebpf.loader import XdpLoader

    pin_dir = f"/sys/fs/bpf/ironpost-test-{os.getpid()}"
    ld = XdpLoader(veth.host_if, mode="skb", pin_dir=pin_dir, ringbuf_pages=256)
    ld.compile()
    try:
        yield ld
    finally:
        ld.close()
        shutil.rmtree(pin_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def reader(loader):
    from ironpost.ebpf.ringbuf import RingReader

    r = RingReader(loader.ringbuf_fd, batch_records=16384)
    yield r
    r.close()


@pytest.fixture
def attached(loader, reader, veth):
    """Program attached in skb mode, empty blocklist, drained ring; detached after the test."""
    for e in loader.blocklist.entries():
        loader.blocklist.remove(e.network)
    loader.set_sample_rate(1)
    loader.attach()
    reader.discard_all()
    try:
        yield loader
    finally:
        loader.detach()
        for e in loader.blocklist.entries():
            loader.blocklist.remove(e.network)


@pytest.fixture
def tcp_server(veth):
    """A listening socket on the host end (kernel completes handshakes; accept is not needed)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((veth.host_ip, 0))
    s.listen(256)
    yield s.getsockname()[1]
    s.close()
