"""Stopping the fleet module ends its tasks even when a cancel is swallowed: redis-py 8 loses a
cancel that lands during a command (a probe lost 78 of 300), and a benchmark then waited forever
for the heartbeat loop. The swallowing task here is fault injection standing in for that."""

from __future__ import annotations

import asyncio

from ironpost.fleet.module import _cancel_all


def test_a_task_that_swallows_cancels_is_cancelled_again_until_it_ends():
    async def main():
        swallowed = 0

        async def stubborn():
            nonlocal swallowed
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    swallowed += 1
                    if swallowed >= 3:
                        raise

        async def plain():
            await asyncio.sleep(3600)

        tasks = [asyncio.create_task(stubborn()), asyncio.create_task(plain())]
        await asyncio.sleep(0)
        await asyncio.wait_for(_cancel_all(tasks), 5)
        return swallowed, [t.cancelled() for t in tasks]

    swallowed, cancelled = asyncio.run(main())
    assert swallowed == 3 and cancelled == [True, True]


def test_giving_up_is_bounded():
    async def main():
        give_up = False

        async def never():
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    if give_up:
                        raise

        t = asyncio.create_task(never())
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await _cancel_all([t], rounds=3)
        took = loop.time() - t0
        done = t.done()
        give_up = True  # (the test's own end: this task may stop now)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        return took, done

    took, done = asyncio.run(main())
    assert not done and 1.4 <= took <= 3.0
