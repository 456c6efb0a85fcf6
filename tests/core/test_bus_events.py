import asyncio

import orjson
import pytest

from ironpost.core.bus import Bus
from ironpost.core.events import ActionEvent, AlertEvent, LogChunk, PacketEvent, event_from_dict, severity_at_least


def test_events_roundtrip_through_json_with_trace_ids():
    pkt = PacketEvent(src_ip="10.200.0.2", dst_ip="10.200.0.1", dst_port=22, tcp_flags=0x02)
    alert = AlertEvent(rule_id="syn_flood", title="SYN flood", severity="high", trace_id=pkt.trace_id, src_ip=pkt.src_ip)
    action = ActionEvent(action="block", target=pkt.src_ip, alert_id=alert.id, trace_id=alert.trace_id)
    for ev in (pkt, alert, action, LogChunk.from_bytes(b"hello\xff\n", "/var/log/x")):
        again = event_from_dict(orjson.loads(ev.to_json()))
        assert again == ev and type(again) is type(ev)
    assert action.trace_id == alert.trace_id == pkt.trace_id == pkt.id
    assert alert.id != pkt.id


def test_alert_rejects_unknown_severity():
    with pytest.raises(ValueError, match="severity must be one of"):
        AlertEvent(rule_id="r", title="t", severity="urgent")
    assert severity_at_least("critical", "high") and not severity_at_least("low", "medium")


def test_unknown_event_kind():
    with pytest.raises(ValueError, match="unknown event kind"):
        event_from_dict({"kind": "nope"})


def test_publish_nowait_drops_and_counts_when_full():
    async def go():
        bus = Bus(capacity=16)
        sub = bus.subscribe("logs", "slow")
        results = [bus.publish_nowait("logs", i) for i in range(20)]
        return bus, sub, results

    bus, sub, results = asyncio.run(go())
    assert results.count(False) == 4
    assert bus.dropped["logs:slow"] == 4
    assert sub.drain_nowait() == list(range(16))
    assert bus.metrics()['bus_dropped_total{topic="logs",subscriber="slow"}'] == 4


def test_publish_waits_for_space_backpressure():
    async def go():
        bus = Bus(capacity=16)
        sub = bus.subscribe("alerts", "store")
        for i in range(16):
            await bus.publish("alerts", i)
        blocked = asyncio.create_task(bus.publish("alerts", 16))
        await asyncio.sleep(0.05)
        assert not blocked.done()  # full: the publisher waits instead of dropping
        assert await sub.get() == 0
        await asyncio.wait_for(blocked, 1)
        return sub.drain_nowait(), bus.dropped

    got, dropped = asyncio.run(go())
    assert got == list(range(1, 17)) and not dropped


def test_every_subscriber_gets_every_event():
    async def go():
        bus = Bus(capacity=100)
        a, b = bus.subscribe("alerts", "a"), bus.subscribe("alerts", "b")
        for i in range(10):
            await bus.publish("alerts", i)
        return a.drain_nowait(), b.drain_nowait()

    a, b = asyncio.run(go())
    assert a == b == list(range(10))


def test_durable_subscriber_holds_waiters_until_it_acks():
    async def go():
        bus = Bus(capacity=16)
        store = bus.subscribe("alerts", "store", durable=True)
        bus.subscribe("alerts", "bans")  # not durable: never waited for
        for i in range(3):
            await bus.publish("alerts", i)
        waiter = asyncio.create_task(bus.wait_durable("alerts"))
        await asyncio.sleep(0.02)
        held_before_ack = not waiter.done()
        store.drain_nowait()
        bus.ack(store, 2)
        await asyncio.sleep(0.02)
        held_at_two = not waiter.done()
        bus.ack(store, 1)
        await asyncio.wait_for(waiter, 1)
        # a later publish is not covered by an earlier wait's target
        await bus.publish("alerts", 3)
        late = asyncio.create_task(bus.wait_durable("alerts"))
        await asyncio.sleep(0.02)
        held_late = not late.done()
        bus.unsubscribe(store)  # a durable subscriber that leaves stops holding anyone
        await asyncio.wait_for(late, 1)
        return held_before_ack, held_at_two, held_late, bus.durable_through("alerts")

    held_before_ack, held_at_two, held_late, through = asyncio.run(go())
    assert held_before_ack and held_at_two and held_late
    assert through == 4


def test_durable_subscriber_joining_late_and_drops_count_as_done():
    async def go():
        bus = Bus(capacity=2)
        for i in range(5):
            await bus.publish("alerts", i)  # before anyone stores: nothing to wait for
        store = bus.subscribe("alerts", "store", durable=True)
        await asyncio.wait_for(bus.wait_durable("alerts"), 1)
        for i in range(4):
            bus.publish_nowait("alerts", i)  # 2 queued, 2 dropped (counted, nothing to wait for)
        before = bus.durable_through("alerts")
        bus.ack(store, len(store.drain_nowait()))
        await asyncio.wait_for(bus.wait_durable("alerts"), 1)
        return before, bus.durable_through("alerts"), bus.dropped["alerts:store"]

    before, after, dropped = asyncio.run(go())
    assert (before, after, dropped) == (7, 9, 2)
