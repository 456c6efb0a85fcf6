"""MirroredState: a shared state that fails (injected) with a local copy that saw everything."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ironpost.core.errors import StorageError
from ironpost.log_pipeline.buckets.state import MemoryState, MirroredState


class Flaky:
    """A real MemoryState standing in for Redis, that can be cut off (fault injection) and can
    come back empty (a restarted redis-server without persistence)."""

    def __init__(self):
        self.inner, self.down = MemoryState(), False

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        def call(*a):
            if self.down:
                raise StorageError("injected: shared state unreachable")
            return method(*a)
        return call


def test_counts_across_an_outage_and_an_empty_restart():
    shared = Flaky()
    s = MirroredState(shared, MemoryState(), StorageError)
    assert s.hit("k", 0, 60) == 1
    shared.down = True
    assert s.hit("k", 1, 60) == 2 and s.errors == 1
    shared.down, shared.inner = False, MemoryState()  # back, empty
    assert s.hit("k", 2, 60) == 3
    assert s.first_seen("k") == 0


def test_incident_marked_during_the_outage_is_not_fresh_afterwards():
    shared = Flaky()
    s = MirroredState(shared, MemoryState(), StorageError)
    shared.down = True
    assert s.mark_once("k|fired", 10, 60) is True
    shared.down = False
    assert s.mark_once("k|fired", 20, 60) is False  # fresh in Redis, not locally: no second alert


def test_incident_marked_by_another_daemon_is_not_fresh_here():
    shared = Flaky()
    shared.inner.mark_once("k|fired", 10, 60)  # the other daemon
    s = MirroredState(shared, MemoryState(), StorageError)
    assert s.mark_once("k|fired", 11, 60) is False


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["hit", "mark"]), st.integers(0, 300), st.booleans()), max_size=60))
def test_never_counts_more_than_the_truth(ops):
    """Whatever fails when, the count is at most the true count of this daemon's events."""
    shared = Flaky()
    s = MirroredState(shared, MemoryState(), StorageError)
    truth = MemoryState()
    for op, ts, down in sorted(ops, key=lambda o: o[1]):
        shared.down = down
        if op == "hit":
            assert s.hit("k", ts, 60) == truth.hit("k", ts, 60)
        else:
            s.mark_once("m", ts, 60)
