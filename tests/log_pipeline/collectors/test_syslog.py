"""Syslog UDP and TCP collectors over real sockets on 127.0.0.1."""

import asyncio
import socket

from collector_support import Sink, run_uv, stop, wait_until
from ironpost.log_pipeline.collectors import SyslogTcp, SyslogTcpConfig, SyslogUdp, SyslogUdpConfig

MSG = b"<34>1 2026-11-30T12:00:00Z host app 1 - - message %d"


def label(collector, key):
    return collector.metrics()[f'lp_collector_{key}{{collector="{collector.name}"}}']


async def started(collector, sink):
    task = asyncio.create_task(collector.run(sink))
    await asyncio.wait_for(collector.started.wait(), 5)
    return task


# --- UDP -----------------------------------------------------------------------------------

def test_udp_one_datagram_is_one_message():
    async def main():
        sink = Sink()
        udp = SyslogUdp(SyslogUdpConfig("127.0.0.1", 0))
        task = await started(udp, sink)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(200):
            s.sendto(MSG % i, udp.bound)
        s.sendto(b"<13>multi\nline\r\nmessage\n", udp.bound)
        s.sendto(b"\n", udp.bound)  # empty: ignored
        await sink.wait_for(201)
        s.close()
        await asyncio.sleep(0.05)
        await stop(task)
        return sink, udp

    sink, udp = run_uv(main())
    assert sink.lines[:200] == [MSG % i for i in range(200)]
    assert sink.lines[200:] == [b"<13>multi line message"]
    assert label(udp, "drops_total") == 0
    assert label(udp, "datagrams_total") == 202


def test_udp_counts_drops_when_consumer_is_slow():
    async def main():
        gate = asyncio.Event()
        got = []

        async def slow(chunk, source):
            await gate.wait()  # the consumer is stuck: the queue fills up
            got.extend(chunk.split(b"\n")[:-1])

        udp = SyslogUdp(SyslogUdpConfig("127.0.0.1", 0, queue_size=50, batch=10))
        task = asyncio.create_task(udp.run(slow))
        await asyncio.wait_for(udp.started.wait(), 5)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(300):
            s.sendto(MSG % i, udp.bound)
            if i % 50 == 0:
                await asyncio.sleep(0.005)  # let the loop read them
        await wait_until(lambda: label(udp, "datagrams_total") + len(udp._queue) + label(udp, "drops_total") >= 300, what="all datagrams seen")
        gate.set()
        await wait_until(lambda: not udp._queue, what="queue drained")
        await asyncio.sleep(0.05)
        kernel = udp.kernel_drops()
        s.close()
        await stop(task)
        return got, udp, kernel

    got, udp, kernel = run_uv(main())
    drops = label(udp, "drops_total")
    assert drops > 0
    assert len(got) + drops == 300  # every datagram was either delivered or counted as dropped
    assert label(udp, "queue_depth") == 0
    assert kernel == 0  # our socket was found in /proc/net/udp and the kernel kept up


# --- TCP -----------------------------------------------------------------------------------

def tcp_session(coro_fn, **cfg):
    async def main():
        sink = Sink()
        tcp = SyslogTcp(SyslogTcpConfig("127.0.0.1", 0, **cfg))
        task = await started(tcp, sink)
        try:
            result = await coro_fn(tcp, sink)
        finally:
            await stop(task)
        return sink, tcp, result

    return run_uv(main())


async def connect(tcp):
    return await asyncio.open_connection(*tcp.bound)


def test_tcp_newline_framing_with_unterminated_last_line():
    async def body(tcp, sink):
        r, w = await connect(tcp)
        data = b"".join(MSG % i + b"\n" for i in range(1000)) + b"<13>last without newline"
        for i in range(0, len(data), 777):  # frames split across writes
            w.write(data[i : i + 777])
        await w.drain()
        w.close()
        await sink.wait_for(1001)

    sink, tcp, _ = tcp_session(body)
    assert sink.lines == [MSG % i for i in range(1000)] + [b"<13>last without newline"]
    assert sink.sources[0].startswith("tcp://127.0.0.1:")


def test_tcp_octet_counting_framing():
    msgs = [MSG % i for i in range(1000)] + [b"<13>with\nnewline inside", b"<13>trailing\n"]

    async def body(tcp, sink):
        r, w = await connect(tcp)
        data = b"".join(b"%d %s" % (len(m), m) for m in msgs)
        for i in range(0, len(data), 333):
            w.write(data[i : i + 333])
        await w.drain()
        await sink.wait_for(len(msgs))
        w.close()

    sink, tcp, _ = tcp_session(body)
    assert sink.lines == [MSG % i for i in range(1000)] + [b"<13>with newline inside", b"<13>trailing"]
    assert label(tcp, "framing_errors_total") == 0


def test_tcp_framing_is_detected_per_connection():
    async def body(tcp, sink):
        r1, w1 = await connect(tcp)
        r2, w2 = await connect(tcp)
        w1.write(b"11 <13>octet-1")
        w2.write(b"<13>newline-1\n")
        w1.write(b"11 <13>octet-2")
        w2.write(b"<13>newline-2\n")
        await asyncio.gather(w1.drain(), w2.drain())
        await sink.wait_for(4)
        w1.close()
        w2.close()

    sink, tcp, _ = tcp_session(body)
    assert sorted(sink.lines) == [b"<13>newline-1", b"<13>newline-2", b"<13>octet-1", b"<13>octet-2"]
    assert len(set(sink.sources)) == 2


def test_tcp_oversized_octet_frame_is_cut_and_stream_stays_in_sync():
    big = b"<13>" + b"A" * 200_000

    async def body(tcp, sink):
        r, w = await connect(tcp)
        w.write(b"9 <13>first")
        w.write(b"%d %s" % (len(big), big))
        w.write(b"9 <13>after")
        await w.drain()
        await sink.wait_for(3)
        w.close()

    sink, tcp, _ = tcp_session(body, max_line=65536)
    assert sink.lines[0] == b"<13>first"
    assert sink.lines[1] == big[:65536]
    assert sink.lines[2] == b"<13>after"
    assert label(tcp, "oversized_total") == 1


def test_tcp_oversized_newline_frame_is_cut_and_counted():
    async def body(tcp, sink):
        r, w = await connect(tcp)
        w.write(b"<13>" + b"B" * 100_000 + b"\n<13>next\n")
        await w.drain()
        await sink.wait_for(2)
        w.close()

    sink, tcp, _ = tcp_session(body, max_line=65536)
    assert [len(l) for l in sink.lines] == [65536, 8]
    assert sink.lines[1] == b"<13>next"
    assert label(tcp, "oversized_total") == 1


def test_tcp_bad_length_prefix_closes_connection():
    async def body(tcp, sink):
        r, w = await connect(tcp)
        w.write(b"5 <13>a9x <13>garbage")
        await w.drain()
        data = await asyncio.wait_for(r.read(), 5)  # the server closes: EOF
        return data

    sink, tcp, data = tcp_session(body)
    assert data == b""
    assert sink.lines == [b"<13>a"]
    assert label(tcp, "framing_errors_total") == 1


async def eof(reader):
    """What a closed-by-server connection reads: b"" (or a reset/broken pipe, also closed)."""
    try:
        return await asyncio.wait_for(reader.read(), 3)
    except ConnectionError:
        return b""


def test_tcp_idle_and_slow_loris_connections_are_closed():
    async def body(tcp, sink):
        r_idle, w_idle = await connect(tcp)
        r_loris, w_loris = await connect(tcp)
        r_ok, w_ok = await connect(tcp)

        async def loris():
            # one byte every 50 ms of a frame that never ends: never completes a frame
            for _ in range(40):
                if w_loris.is_closing():
                    return
                w_loris.write(b"x")
                await asyncio.sleep(0.05)

        async def ok():
            for i in range(10):
                w_ok.write(b"<13>alive %d\n" % i)
                await asyncio.sleep(0.1)

        t0 = asyncio.get_running_loop().time()
        await asyncio.gather(loris(), ok())
        # the busy client outlived both, though all three connected at the same time
        counts = label(tcp, "idle_closed_total"), label(tcp, "connections_active")
        idle_eof = await eof(r_idle)
        loris_eof = await eof(r_loris)
        return idle_eof, loris_eof, counts

    sink, tcp, (idle_eof, loris_eof, (closed, active)) = tcp_session(body, idle_timeout=0.4)
    assert idle_eof == b"" and loris_eof == b""
    assert (closed, active) == (2, 1)
    assert sink.lines == [b"<13>alive %d" % i for i in range(10)]  # the loris's partial line is not a message


def test_tcp_connection_cap():
    async def body(tcp, sink):
        held = [await connect(tcp) for _ in range(3)]
        await wait_until(lambda: label(tcp, "connections_active") == 3, what="3 connections")
        r, w = await connect(tcp)
        extra = await eof(r)
        held[0][1].close()
        await wait_until(lambda: label(tcp, "connections_active") == 2, what="a slot freed")
        r2, w2 = await connect(tcp)
        w2.write(b"<13>admitted\n")
        await w2.drain()
        await sink.wait_for(1)
        return extra

    sink, tcp, extra = tcp_session(body, max_connections=3)
    assert extra == b""
    assert label(tcp, "rejected_total") == 1
    assert sink.lines == [b"<13>admitted"]


def test_tcp_backpressure_pauses_instead_of_dropping():
    n = 20_000

    async def body(tcp, sink):
        r, w = await connect(tcp)
        data = b"".join(MSG % i + b"\n" for i in range(n))
        w.write(data)
        await w.drain()
        await sink.wait_for(n, timeout=20)
        w.close()

    async def run():
        sink = Sink(delay=0.002)  # a slow consumer
        tcp = SyslogTcp(SyslogTcpConfig("127.0.0.1", 0, high_water=64 << 10, low_water=16 << 10))
        task = await started(tcp, sink)
        await body(tcp, sink)
        await stop(task)
        return sink, tcp

    sink, tcp = run_uv(run())
    assert sink.lines == [MSG % i for i in range(n)]
    assert label(tcp, "paused_total") > 0


def test_port_in_use_is_a_clear_typed_error():
    import pytest

    from ironpost.core.errors import LogPipelineError

    async def main():
        tcp_busy = socket.socket()
        tcp_busy.bind(("127.0.0.1", 0))
        tcp_busy.listen(1)
        udp_busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_busy.bind(("127.0.0.1", 0))
        try:
            with pytest.raises(LogPipelineError, match="syslog TCP cannot listen on 127.0.0.1:"):
                await SyslogTcp(SyslogTcpConfig("127.0.0.1", tcp_busy.getsockname()[1])).run(Sink())
            with pytest.raises(LogPipelineError, match="syslog UDP cannot listen on 127.0.0.1:"):
                await SyslogUdp(SyslogUdpConfig("127.0.0.1", udp_busy.getsockname()[1])).run(Sink())
        finally:
            tcp_busy.close()
            udp_busy.close()

    run_uv(main())


def test_tcp_lines_starting_with_a_digit_fall_back_to_newline_framing():
    lines = [b"2026-11-30T12:00:%02dZ web1 app[1]: hello %d" % (i, i) for i in range(50)]

    async def body(tcp, sink):
        r, w = await connect(tcp)
        data = b"".join(l + b"\n" for l in lines)
        w.write(data[:3])  # too short to decide on its own
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(data[3:])
        await w.drain()
        await sink.wait_for(50)
        w.close()

    sink, tcp, _ = tcp_session(body)
    assert sink.lines == lines
    assert label(tcp, "framing_errors_total") == 0


from hypothesis import given, settings, strategies as st  # noqa: E402

_msg = st.binary(min_size=1, max_size=300).map(lambda b: b"<13>" + b.replace(b"\n", b"_").replace(b"\r", b"_").rstrip(b"\x00"))


@settings(max_examples=40, deadline=None)
@given(msgs=st.lists(_msg, min_size=1, max_size=40), cuts=st.lists(st.integers(1, 400), min_size=1, max_size=20),
       octet=st.booleans())
def test_tcp_framing_survives_any_split(msgs, cuts, octet):
    data = b"".join((b"%d %s" % (len(m), m)) if octet else m + b"\n" for m in msgs)

    async def body(tcp, sink):
        r, w = await connect(tcp)
        pos, i = 0, 0
        while pos < len(data):
            step = cuts[i % len(cuts)]
            w.write(data[pos : pos + step])
            await w.drain()
            pos += step
            i += 1
        await sink.wait_for(len(msgs))
        w.close()

    sink, tcp, _ = tcp_session(body)
    assert sink.lines == msgs
    assert label(tcp, "framing_errors_total") == 0
