"""Collector and store throughput, each beside a naive reference measured in the same run.

- syslog TCP ingest over loopback: our SyslogTcp (uvloop, protocol callbacks, batch framing)
  against an asyncio StreamReader.readline() server, both receiving the same burst of 200k
  messages from a client thread; every message must arrive (zero loss is asserted). The same
  with RFC 6587 octet counting, against a StreamReader server doing readuntil(b" ") then
  readexactly(n) per message.
- PostgreSQL: PostgresStore.write_alerts (COPY + ON CONFLICT in one transaction) against one
  INSERT transaction per alert.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
import uvloop

import support
from ironpost.core.events import AlertEvent
from ironpost.log_pipeline.collectors import SyslogTcp, SyslogTcpConfig

N_MSGS = 200_000
_LINE = b"<38>Dec 10 06:55:%02d LabSZ sshd[%d]: Failed password for invalid user admin from 203.0.%d.%d port %d ssh2"
NEWLINE_BURST = b"".join(_LINE % (i % 60, 24200 + i, i // 256 % 256, i % 256, 1024 + i % 60000) + b"\n" for i in range(N_MSGS))
OCTET_BURST = b"".join(b"%d %s" % (len(m) - 1, m[:-1]) for m in NEWLINE_BURST.splitlines(keepends=True))


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)  # one C call that drops the GIL: the client barely competes with the server


async def _ours(data: bytes) -> int:
    got = 0
    done = asyncio.Event()

    async def emit(chunk: bytes, source: str) -> None:
        nonlocal got
        got += chunk.count(b"\n")
        if got >= N_MSGS:
            done.set()

    tcp = SyslogTcp(SyslogTcpConfig("127.0.0.1", 0))
    task = asyncio.create_task(tcp.run(emit))
    await tcp.started.wait()
    client = threading.Thread(target=_send, args=(tcp.bound[1], data))
    client.start()
    await asyncio.wait_for(done.wait(), 60)
    client.join()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return got


async def _read_line(reader: asyncio.StreamReader) -> bool:
    return bool(await reader.readline())


async def _read_octet_frame(reader: asyncio.StreamReader) -> bool:
    try:
        prefix = await reader.readuntil(b" ")
    except asyncio.IncompleteReadError:
        return False
    await reader.readexactly(int(prefix))
    return True


async def _naive(read_one=_read_line, burst: bytes = NEWLINE_BURST) -> int:
    """The reference server: asyncio streams, one awaited read per message (readline, or
    readuntil + readexactly for octet counting)."""
    got = 0
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal got
        while await read_one(reader):
            got += 1
            if got >= N_MSGS:
                done.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = threading.Thread(target=_send, args=(port, burst))
    client.start()
    await asyncio.wait_for(done.wait(), 60)
    client.join()
    server.close()
    return got


async def _naive_octet() -> int:
    return await _naive(_read_octet_frame, OCTET_BURST)


def _run(coro_fn, *args):
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        return r.run(coro_fn(*args))


@pytest.mark.benchmark(group="collectors-syslog-tcp")
def test_syslog_tcp_ingest_ours(benchmark):
    got = benchmark.pedantic(_run, args=(_ours, NEWLINE_BURST), rounds=9, iterations=1, warmup_rounds=1)
    assert got == N_MSGS
    benchmark.extra_info["msgs_per_sec_median"] = N_MSGS / benchmark.stats.stats.median


@pytest.mark.benchmark(group="collectors-syslog-tcp")
def test_syslog_tcp_ingest_octet_counting_ours(benchmark):
    got = benchmark.pedantic(_run, args=(_ours, OCTET_BURST), rounds=5, iterations=1, warmup_rounds=1)
    assert got == N_MSGS
    benchmark.extra_info["msgs_per_sec_median"] = N_MSGS / benchmark.stats.stats.median


@pytest.mark.benchmark(group="collectors-syslog-tcp")
def test_syslog_tcp_ingest_octet_counting_naive(benchmark):
    got = benchmark.pedantic(_run, args=(_naive_octet,), rounds=5, iterations=1, warmup_rounds=1)
    assert got == N_MSGS
    benchmark.extra_info["msgs_per_sec_median"] = N_MSGS / benchmark.stats.stats.median


@pytest.mark.benchmark(group="collectors-syslog-tcp")
def test_syslog_tcp_ingest_naive_readline(benchmark):
    got = benchmark.pedantic(_run, args=(_naive,), rounds=9, iterations=1, warmup_rounds=1)
    assert got == N_MSGS
    benchmark.extra_info["msgs_per_sec_median"] = N_MSGS / benchmark.stats.stats.median


# --- PostgreSQL ---------------------------------------------------------------------------

N_ALERTS = 1000


@pytest.fixture(scope="module")
def pg_url():
    from storage_support import temp_database

    with temp_database("ironpost_bench_") as url:
        yield url


@pytest.fixture(scope="module")
def pg_store(pg_url):
    from ironpost.storage.postgres import PostgresStore

    store = PostgresStore(pg_url)
    store.migrate()
    yield store
    store.close()


def _insert_rowwise(url: str):
    """The naive reference: one INSERT transaction per alert, on a plain psycopg connection."""
    import psycopg
    from psycopg.types.json import Jsonb

    from ironpost.core.events import SEVERITY_RANK

    conn = psycopg.connect(url, autocommit=True)

    def write(alerts: list[AlertEvent]) -> None:
        for a in alerts:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO ironpost_alerts (id, ts, rule_id, severity, severity_rank, src_ip, trace_id, body)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (id) DO NOTHING",
                    (a.id, a.timestamp, a.rule_id, a.severity, SEVERITY_RANK[a.severity], a.src_ip, a.trace_id,
                     Jsonb(a.to_dict())))
    return conn, write


def _fresh_alerts():
    return ([AlertEvent(rule_id="ssh_brute_force", title="SSH brute force", severity="high", src_ip=f"203.0.113.{i % 256}",
                        group={"src_ip": f"203.0.113.{i % 256}"}, count=5, tags=["ssh"]) for i in range(N_ALERTS)],), {}


@pytest.mark.benchmark(group="storage-postgres")
def test_postgres_insert_batched(benchmark, pg_store):
    before = pg_store.count("alerts")[0]
    benchmark.pedantic(pg_store.write_alerts, setup=_fresh_alerts, rounds=5, iterations=1, warmup_rounds=1)
    assert pg_store.count("alerts")[0] == before + 6 * N_ALERTS
    benchmark.extra_info["rows_per_sec_median"] = N_ALERTS / benchmark.stats.stats.median


@pytest.mark.benchmark(group="storage-postgres")
def test_postgres_insert_rowwise(benchmark, pg_store, pg_url):
    before = pg_store.count("alerts")[0]
    conn, write = _insert_rowwise(pg_url)
    with conn:
        benchmark.pedantic(write, setup=_fresh_alerts, rounds=3, iterations=1, warmup_rounds=0)
    assert pg_store.count("alerts")[0] == before + 3 * N_ALERTS
    benchmark.extra_info["rows_per_sec_median"] = N_ALERTS / benchmark.stats.stats.median
