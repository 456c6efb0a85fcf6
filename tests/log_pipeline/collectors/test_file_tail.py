import asyncio
import os
import shutil
from collections import Counter

import orjson
import pytest

from collector_support import Sink, run_uv, stop, wait_until
from ironpost.log_pipeline.collectors import FileTail, FileTailConfig


def make(tmp_path, pattern="*.log", **kw):
    kw.setdefault("poll_interval", 0.02)
    kw.setdefault("rotate_grace", 0.2)
    kw.setdefault("start_at", "beginning")
    return FileTail(FileTailConfig(globs=[str(tmp_path / "logs" / pattern)], offsets_path=tmp_path / "data" / "offsets.json", **kw))


def started(tmp_path, **kw):
    """A FileTail (make's defaults) running into a fresh Sink: (sink, tail, task); stop(task) ends it."""
    sink, tail = Sink(), make(tmp_path, **kw)
    return sink, tail, asyncio.create_task(tail.run(sink))


def write(path, prefix, start, count, newline_last=True):
    with open(path, "ab") as fh:
        data = b"".join(b"%s-%d\n" % (prefix, i) for i in range(start, start + count))
        if not newline_last:
            data = data[:-1]
        fh.write(data)


def expect(prefix, start, count):
    return [b"%s-%d" % (prefix, i) for i in range(start, start + count)]


def assert_exactly_once(lines, expected):
    c = Counter(lines)
    dup = [l for l, n in c.items() if n > 1]
    missing = [l for l in expected if l not in c]
    extra = [l for l in c if l not in set(expected)]
    assert not dup, f"read twice: {dup[:5]}"
    assert not missing, f"lost: {missing[:5]} ({len(missing)} in all)"
    assert not extra, f"unexpected: {extra[:5]}"


@pytest.fixture
def logs(tmp_path):
    (tmp_path / "logs").mkdir()
    return tmp_path / "logs"


def test_new_file_and_appends_are_read_in_order(tmp_path, logs):
    async def main():
        sink, tail, task = started(tmp_path)
        await asyncio.sleep(0.05)
        write(logs / "a.log", b"a", 0, 1000)  # appears after start: read from its first byte
        await sink.wait_for(1000)
        write(logs / "a.log", b"a", 1000, 500)
        await sink.wait_for(1500)
        m = tail.metrics()
        await stop(task)
        return sink, m

    sink, m = run_uv(main())
    assert sink.lines == expect(b"a", 0, 1500)
    assert set(sink.sources) == {str(logs / "a.log")}
    assert m['lp_collector_lines_total{collector="file_tail"}'] == 1500


def test_rename_rotation_loses_nothing(tmp_path, logs):
    path = logs / "app.log"

    async def main():
        sink, tail, task = started(tmp_path)
        write(path, b"old", 0, 2000)
        await sink.wait_for(2000)
        write(path, b"old", 2000, 300)  # written just before the rename, maybe not read yet
        os.rename(path, logs / "app.log.1")  # not matched by *.log
        write(logs / "app.log.1", b"old", 2300, 50)  # the writer logs a little more before reopening
        write(path, b"new", 0, 700)
        await sink.wait_for(3050)
        await wait_until(lambda: len(tail._files) == 1, what="rotated file closed")
        write(path, b"new", 700, 10)
        await sink.wait_for(3060)
        m = tail.metrics()
        await stop(task)
        return sink, m

    sink, m = run_uv(main())
    assert_exactly_once(sink.lines, expect(b"old", 0, 2350) + expect(b"new", 0, 710))
    old = [l for l in sink.lines if l.startswith(b"old")]
    assert old == expect(b"old", 0, 2350)
    assert m['lp_collector_rotations_total{collector="file_tail"}'] == 1


def test_rotated_file_still_matched_by_glob_is_not_reread(tmp_path, logs):
    path = logs / "app.log"

    async def main():
        sink, tail, task = started(tmp_path, pattern="app.log*")
        write(path, b"old", 0, 100)
        await sink.wait_for(100)
        os.rename(path, logs / "app.log.1")
        write(path, b"new", 0, 100)
        await sink.wait_for(200)
        await asyncio.sleep(0.3)
        await stop(task)
        return sink

    sink = run_uv(main())
    assert_exactly_once(sink.lines, expect(b"old", 0, 100) + expect(b"new", 0, 100))


def test_copytruncate(tmp_path, logs):
    path = logs / "app.log"

    async def main():
        sink, tail, task = started(tmp_path)
        write(path, b"before", 0, 1000)
        await sink.wait_for(1000)
        shutil.copyfile(path, logs / "app.log.1")
        with open(path, "r+b") as fh:
            fh.truncate(0)
        await wait_until(lambda: tail.metrics()['lp_collector_truncations_total{collector="file_tail"}'] == 1, what="truncation seen")
        write(path, b"after", 0, 400)
        await sink.wait_for(1400)
        await asyncio.sleep(0.1)
        await stop(task)
        return sink

    sink = run_uv(main())
    assert_exactly_once(sink.lines, expect(b"before", 0, 1000) + expect(b"after", 0, 400))


def test_restart_resumes_exactly(tmp_path, logs):
    path = logs / "app.log"
    write(path, b"x", 0, 5000)

    async def session(n_expected):
        sink, tail, task = started(tmp_path)
        await sink.wait_for(n_expected)
        await asyncio.sleep(0.1)  # give it the chance to read something twice
        await stop(task)
        return sink.lines

    first = run_uv(session(5000))
    assert first == expect(b"x", 0, 5000)
    offsets = orjson.loads((tmp_path / "data" / "offsets.json").read_bytes())
    (rec,) = offsets["files"].values()
    assert rec["offset"] == path.stat().st_size

    # while stopped: more lines, a half-written last line, then a new file
    write(path, b"x", 5000, 1234)
    with open(path, "ab") as fh:
        fh.write(b"x-6234-half")
    write(logs / "other.log", b"o", 0, 10)
    second = run_uv(session(1234 + 10))
    assert_exactly_once(second, expect(b"x", 5000, 1234) + expect(b"o", 0, 10))

    with open(path, "ab") as fh:
        fh.write(b"-done\n")
    third = run_uv(session(1))
    assert third == [b"x-6234-half-done"]


def test_rotation_while_stopped_is_finished_after_restart(tmp_path, logs):
    path = logs / "app.log"
    write(path, b"a", 0, 100)

    async def session(n):
        sink = Sink()
        task = asyncio.create_task(make(tmp_path).run(sink))
        await sink.wait_for(n)
        await asyncio.sleep(0.3)
        await stop(task)
        return sink.lines

    assert run_uv(session(100)) == expect(b"a", 0, 100)
    write(path, b"a", 100, 50)  # written before the rotation, while we were down
    os.rename(path, logs / "app.log.1")
    write(path, b"b", 0, 20)
    assert_exactly_once(run_uv(session(70)), expect(b"a", 100, 50) + expect(b"b", 0, 20))


def test_offset_is_saved_only_after_emit_returned(tmp_path, logs):
    """A crash inside emit re-reads that chunk after restart instead of losing it."""
    path = logs / "app.log"
    write(path, b"c", 0, 10)

    class Crash(Exception):
        pass

    async def crashing():
        calls = []

        async def emit(chunk, source):
            calls.append(chunk)
            if len(calls) == 2:
                raise Crash

        tail = make(tmp_path)
        task = asyncio.create_task(tail.run(emit))
        await asyncio.sleep(0.1)
        write(path, b"c", 10, 5)
        with pytest.raises(Crash):
            await asyncio.wait_for(task, 5)

    run_uv(crashing())

    async def again():
        sink = Sink()
        task = asyncio.create_task(make(tmp_path).run(sink))
        await sink.wait_for(5)
        await asyncio.sleep(0.1)
        await stop(task)
        return sink.lines

    assert run_uv(again()) == expect(b"c", 10, 5)


def test_start_at_end_skips_existing_content_on_first_run(tmp_path, logs):
    path = logs / "app.log"
    write(path, b"old", 0, 100)
    with open(path, "ab") as fh:
        fh.write(b"partial")

    async def main():
        sink = Sink()
        task = asyncio.create_task(make(tmp_path, start_at="end").run(sink))
        await asyncio.sleep(0.1)
        with open(path, "ab") as fh:
            fh.write(b"-line\nnew-1\n")
        await sink.wait_for(2)
        await asyncio.sleep(0.1)
        await stop(task)
        return sink.lines

    assert run_uv(main()) == [b"partial-line", b"new-1"]


def test_long_lines_are_cut_and_counted(tmp_path, logs):
    path = logs / "app.log"
    with open(path, "wb") as fh:
        fh.write(b"a" * 5000 + b"\nshort\n")

    async def main():
        sink, tail, task = started(tmp_path, max_line=1024, read_chunk=700)
        await sink.wait_for(2)
        await asyncio.sleep(0.1)
        m = tail.metrics()
        await stop(task)
        return sink.lines, m

    lines, m = run_uv(main())
    assert lines == [b"a" * 1024, b"short"]
    assert m['lp_collector_cut_lines_total{collector="file_tail"}'] == 1


def test_damaged_offsets_file_does_not_stop_collection(tmp_path, logs):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "offsets.json").write_bytes(b"{not json")
    write(logs / "a.log", b"a", 0, 3)

    async def main():
        sink, tail, task = started(tmp_path, start_at="end")
        await sink.wait_for(3)
        m = tail.metrics()
        await stop(task)
        return sink.lines, m

    lines, m = run_uv(main())
    assert lines == expect(b"a", 0, 3)
    assert m['lp_collector_errors_total{collector="file_tail"}'] == 1


def test_copytruncate_regrown_past_offset_before_the_next_poll(tmp_path, logs):
    """Truncated and quickly rewritten past our offset: sizes alone cannot tell, the head bytes can."""
    path = logs / "app.log"

    async def main():
        sink, tail, task = started(tmp_path, poll_interval=0.05)
        write(path, b"before", 0, 100)
        await sink.wait_for(100)
        await asyncio.sleep(0.12)  # the head fingerprint is taken on a poll after reading
        with open(path, "r+b") as fh:  # no await in between: the tailer cannot see the short file
            fh.truncate(0)
        write(path, b"after", 0, 300)
        await sink.wait_for(400)
        await asyncio.sleep(0.15)
        await stop(task)
        return sink

    sink = run_uv(main())
    assert_exactly_once(sink.lines, expect(b"before", 0, 100) + expect(b"after", 0, 300))


def test_copytruncate_while_stopped_reads_the_unread_rest_from_the_copy(tmp_path, logs):
    """Lines written after our last offset went into the copy before the truncation: read from there."""
    path = logs / "app.log"
    write(path, b"a", 0, 100)

    async def session(n):
        sink, tail, task = started(tmp_path)
        await sink.wait_for(n)
        await asyncio.sleep(0.3)
        m = tail.metrics()
        await stop(task)
        return sink.lines, m

    assert run_uv(session(100))[0] == expect(b"a", 0, 100)
    write(path, b"a", 100, 50)  # never read by us
    shutil.copyfile(path, logs / "app.log.1")  # the copy is outside the glob: found beside the file
    os.truncate(path, 0)
    write(path, b"b", 0, 20)
    lines, m = run_uv(session(70))
    assert_exactly_once(lines, expect(b"a", 100, 50) + expect(b"b", 0, 20))
    assert m['lp_collector_copy_recovered_lines_total{collector="file_tail"}'] == 50


def test_copytruncate_before_we_read_the_last_lines(tmp_path, logs):
    path = logs / "app.log"

    async def main():
        sink, tail, task = started(tmp_path, poll_interval=0.05)
        write(path, b"a", 0, 100)
        await sink.wait_for(100)
        await asyncio.sleep(0.12)  # fingerprinted on a poll after reading
        # no await in between: the tailer cannot read these 30 lines before the truncation
        write(path, b"a", 100, 30)
        shutil.copyfile(path, logs / "app.log.1")
        os.truncate(path, 0)
        write(path, b"b", 0, 5)
        await sink.wait_for(135)
        await asyncio.sleep(0.15)
        m = tail.metrics()
        await stop(task)
        return sink, m

    sink, m = run_uv(main())
    assert_exactly_once(sink.lines, expect(b"a", 0, 130) + expect(b"b", 0, 5))
    assert m['lp_collector_copy_recoveries_total{collector="file_tail"}'] == 1


def test_truncation_without_a_copy_starts_over_and_reads_nothing_twice(tmp_path, logs):
    path = logs / "app.log"
    (logs / "other.txt").write_bytes(b"unrelated\n" * 50)

    async def main():
        sink, tail, task = started(tmp_path, poll_interval=0.05)
        write(path, b"a", 0, 100)
        await sink.wait_for(100)
        await asyncio.sleep(0.12)
        os.truncate(path, 0)
        write(path, b"b", 0, 5)
        await sink.wait_for(105)
        await asyncio.sleep(0.15)
        m = tail.metrics()
        await stop(task)
        return sink, m

    sink, m = run_uv(main())
    assert_exactly_once(sink.lines, expect(b"a", 0, 100) + expect(b"b", 0, 5))
    assert m['lp_collector_copy_recoveries_total{collector="file_tail"}'] == 0


def test_offsets_wait_until_the_alerts_of_read_lines_are_stored(tmp_path, logs):
    """A saved offset must never pass a line whose alert is not yet stored: after a SIGKILL the
    lines between would be neither stored nor read again."""
    path = logs / "app.log"
    offsets_file = tmp_path / "data" / "offsets.json"

    def saved_offset():
        if not offsets_file.exists():
            return 0
        return sum(r["offset"] for r in orjson.loads(offsets_file.read_bytes())["files"].values())

    async def main():
        sink = Sink()
        tail = make(tmp_path)
        stored = asyncio.Event()
        waits = 0

        async def barrier():
            nonlocal waits
            waits += 1
            await stored.wait()

        tail.stored = barrier
        task = asyncio.create_task(tail.run(sink))
        write(path, b"x", 0, 300)
        await sink.wait_for(300)
        await asyncio.sleep(0.15)  # several polls: each would have saved the offset
        held = saved_offset()
        stored.set()
        await wait_until(lambda: saved_offset() == path.stat().st_size, what="offset saved once stored")
        await stop(task)
        return held, waits

    held, waits = run_uv(main())
    assert held == 0
    assert waits >= 1
