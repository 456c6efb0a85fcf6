"""The Docker log collector against the real private dockerd."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from container_support import IMAGE, TEST_LABEL
from ironpost.container.collector import DockerLogCollector

pytestmark = pytest.mark.docker

SCRIPT = (
    'echo "sshd[1]: Failed password for root from 127.0.0.1"; '
    'echo -n "partial "; sleep 0.3; echo "line joined"; '
    'echo "to stderr" >&2; sleep 3600'
)


def test_collector_follows_logs_with_container_identity(dockerd, docker_client, trio):
    got: list[tuple[bytes, str]] = []

    async def emit(chunk: bytes, source: str) -> None:
        got.append((chunk, source))

    async def main():
        col = DockerLogCollector(dockerd.host, names=("log-*",), poll_secs=0.2)
        task = asyncio.create_task(col.run(emit))
        try:
            await asyncio.sleep(0.3)  # the first scan has run; web-1 etc. are not followed (filter)
            c = await asyncio.to_thread(
                docker_client.containers.run, IMAGE, ["sh", "-c", SCRIPT], name="log-1", detach=True, init=True,
                labels={TEST_LABEL: "1"},
            )
            async with asyncio.timeout(10):
                while sum(ch.count(b"\n") for ch, _ in got) < 3:
                    await asyncio.sleep(0.05)
            return c, col.metrics()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    c, metrics = asyncio.run(main())
    assert {s for _, s in got} == {f"docker:log-1:{c.id}"}
    lines = b"".join(ch for ch, _ in got).splitlines()
    # stdout keeps its order; docker copies stderr separately, so its place among them may vary.
    assert [x for x in lines if x != b"to stderr"] == [b"sshd[1]: Failed password for root from 127.0.0.1", b"partial line joined"]
    assert lines.count(b"to stderr") == 1 and len(lines) == 3
    assert all(ch.endswith(b"\n") for ch, _ in got)  # whole lines only
    assert metrics["container_logs_followed"] == 1 and metrics["container_logs_lines_total"] == 3


def test_collector_skips_history_of_containers_running_at_start(dockerd, docker_client, trio):
    c = docker_client.containers.run(IMAGE, ["sh", "-c", 'echo "old line"; sleep 3600'], name="log-2", detach=True,
                                     init=True, labels={TEST_LABEL: "1"})
    got = []

    async def emit(chunk, source):
        got.append(chunk)

    async def main():
        await asyncio.sleep(1.1)  # `since` has one-second resolution on this engine
        col = DockerLogCollector(dockerd.host, names=("log-2",), poll_secs=0.2)
        task = asyncio.create_task(col.run(emit))
        try:
            async with asyncio.timeout(5):
                while col.metrics()["container_logs_followed"] < 1:
                    await asyncio.sleep(0.05)
            await asyncio.to_thread(c.exec_run, ["sh", "-c", "echo new line > /proc/1/fd/1"])
            async with asyncio.timeout(10):
                while not got:
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert b"".join(got) == b"new line\n"


def test_collector_resumes_after_dockerd_restart(dockerd, docker_client, trio):
    """Streams end with the engine; the collector follows the container again once it is back."""
    ticker = 'i=0; while [ $i -lt 400 ]; do echo "tick $i"; i=$((i+1)); sleep 0.05; done; sleep 3600'
    c = docker_client.containers.run(IMAGE, ["sh", "-c", ticker], name="log-3", detach=True, init=True, labels={TEST_LABEL: "1"})
    lines: list[bytes] = []
    sources: set[str] = set()

    async def emit(chunk, source):
        lines.extend(chunk.splitlines())
        sources.add(source)

    async def main():
        col = DockerLogCollector(dockerd.host, names=("log-3",), poll_secs=0.2)
        task = asyncio.create_task(col.run(emit))
        try:
            async with asyncio.timeout(10):
                while len(lines) < 3:
                    await asyncio.sleep(0.05)
            follows = col.counts["follows"]
            await asyncio.to_thread(dockerd.kill)
            await asyncio.to_thread(dockerd.start)
            seen = len(lines)
            async with asyncio.timeout(15):
                while col.counts["follows"] == follows or len(lines) < seen + 3:
                    await asyncio.sleep(0.05)
            return col.counts["follows"] - follows, seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    refollowed, seen = asyncio.run(main())
    assert refollowed >= 1 and sources == {f"docker:log-3:{c.id}"}
    assert all(line.startswith(b"tick ") for line in lines)  # no torn lines across the restart
    numbers = [int(line.split()[1]) for line in lines]
    before, after = numbers[:seen], numbers[seen:]
    assert before == sorted(before) and after == sorted(after)
    assert after[0] > before[-1] - 25  # resumed where it stopped (give or take ~1 s), not replayed from the start
    assert set(range(numbers[0], numbers[-1] + 1)) <= set(numbers)  # nothing logged while the engine was down is lost
