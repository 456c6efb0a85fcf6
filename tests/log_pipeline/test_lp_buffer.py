"""The bounded log buffer between collectors and the engine: capacity in lines, drop policy, waiting."""

import asyncio

import pytest

from ironpost.core.config import parse_config
from ironpost.core.errors import LogPipelineError
from ironpost.log_pipeline.buffer import LineBuffer, line_count
from ironpost.log_pipeline.module import LogPipelineModule


def lines(tag: str, n: int) -> bytes:
    return b"".join(f"{tag} {i}\n".encode() for i in range(n))


def drain_now(buf: LineBuffer) -> list[bytes]:
    async def go():
        return [(await buf.get())[0] for _ in range(len(buf))]
    return asyncio.run(go())


def test_line_count_counts_an_unterminated_tail():
    assert (line_count(b""), line_count(b"a\n"), line_count(b"a\nb"), line_count(b"a\nb\n")) == (0, 1, 2, 2)


def test_oldest_policy_keeps_the_newest_lines():
    buf = LineBuffer(10, "oldest")
    for tag in "abcd":
        assert buf.put_nowait(lines(tag, 4), "udp")
    assert buf.lines == 8 and buf.dropped_lines == 8 and buf.dropped_chunks == 2  # a and b made room for c and d
    assert drain_now(buf) == [lines("c", 4), lines("d", 4)]
    assert buf.lines == 0 and buf.metrics()["lp_buffer_dropped_lines_total"] == 8


def test_newest_policy_keeps_what_was_queued():
    buf = LineBuffer(10, "newest")
    results = [buf.put_nowait(lines(tag, 4), "udp") for tag in "abcd"]
    assert results == [True, True, False, False]
    assert drain_now(buf) == [lines("a", 4), lines("b", 4)]
    assert buf.dropped_lines == 8 and buf.high_water == 8


def test_a_buffer_larger_than_capacity_goes_in_alone():
    for policy in ("oldest", "newest"):
        buf = LineBuffer(10, policy)
        assert buf.put_nowait(lines("big", 25), "tcp")
        assert buf.lines == 25 and buf.dropped_lines == 0


def test_put_wait_blocks_until_the_engine_takes_lines():
    async def go():
        buf = LineBuffer(10, "oldest")
        buf.put_nowait(lines("a", 8), "file")
        waiter = asyncio.create_task(buf.put_wait(lines("b", 8), "file"))
        await asyncio.sleep(0.05)
        assert not waiter.done() and buf.lines == 8  # full: the file waits, nothing dropped
        assert (await buf.get())[0] == lines("a", 8)
        await asyncio.wait_for(waiter, 1)
        assert (await buf.get())[0] == lines("b", 8)
        assert buf.dropped_lines == 0
    asyncio.run(go())


def test_bad_policy_is_refused():
    with pytest.raises(LogPipelineError, match="drop_policy"):
        LineBuffer(10, "random")


def test_module_defaults_are_the_seeds_and_counted_in_metrics():
    mod = LogPipelineModule(parse_config({}, environ={}))
    m = mod.metrics()
    assert m["lp_buffer_capacity_lines"] == 100_000 and m["lp_buffer_dropped_lines_total"] == 0
    cfg = parse_config({"log_pipeline": {"buffer_lines": 16, "buffer_drop_policy": "newest"}}, environ={})
    mod = LogPipelineModule(cfg)
    assert (mod.buffer.max_lines, mod.buffer.drop_policy) == (16, "newest")


def test_module_intake_drops_syslog_but_makes_files_wait():
    class Syslog:  # the shape of a network collector: no `lossless`
        name = "syslog_udp:test"

    from ironpost.log_pipeline.collectors import FileTail

    async def go():
        mod = LogPipelineModule(parse_config({"log_pipeline": {"buffer_lines": 16}}, environ={}))
        put = mod._intake(Syslog())
        for tag in "abc":
            await put(lines(tag, 8), "syslog")
        assert mod.metrics()["lp_buffer_dropped_lines_total"] == 8
        assert FileTail.lossless is True
        assert mod._intake(type("F", (), {"lossless": True})()) == mod.buffer.put_wait
    asyncio.run(go())
