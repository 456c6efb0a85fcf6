"""Per-connection sessions: address filled from an earlier line, matches held until a later line
names the address, after/unless/new_user correlation, and the bounds (sessions, time)."""

from __future__ import annotations

from ironpost.log_pipeline.buckets.sessions import AHEAD, GRACE, MAX_PENDING, SessionTable
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules.loader import load_rules_strict
from ironpost.log_pipeline.rules.model import Condition, Rule, Session


def rule(rid, text, **session):
    return Rule(rid, rid, "medium", [Condition("message", "contains", text)], session=Session(**session))


def rec(msg, pid=7, ip=None, user=None, host="h"):
    r = {"host": host, "process": "sshd", "pid": pid, "message": msg}
    if ip:
        r["src_ip"] = ip
    if user is not None:
        r["user"] = user
    return r


def test_fill_takes_the_address_an_earlier_line_of_the_connection_gave():
    t = SessionTable()
    seen = rule("seen", "Connection from", silent=True)
    fail = rule("fail", "Too many", fill=True)
    assert t.observe(seen, rec("Connection from", ip="203.0.113.9"), 1.0) == (None, [])
    out, _ = t.observe(fail, rec("Too many"), 2.0)
    assert out["src_ip"] == "203.0.113.9"
    other, _ = t.observe(fail, rec("Too many", pid=8), 2.0)  # another connection knows nothing
    assert "src_ip" not in other


def test_a_match_waits_for_its_address_and_is_resolved_once():
    t = SessionTable()
    fail = rule("fail", "Too many", fill=True, wait_for_address=True)
    close = rule("close", "closed", silent=True)
    assert t.observe(fail, rec("Too many"), 1.0) == (None, [])
    _, resolved = t.observe(close, rec("closed", ip="203.0.113.9"), 2.0)
    assert [(r.id, m["src_ip"]) for r, m in resolved] == [("fail", "203.0.113.9")]
    assert t.observe(close, rec("closed", ip="203.0.113.9"), 3.0)[1] == []
    for _ in range(MAX_PENDING + 3):
        t.observe(fail, rec("Too many", pid=9), 4.0)
    assert t.pending_dropped == 3


def test_after_unless_and_new_user():
    t = SessionTable()
    failed = rule("failed", "auth failure")
    accepted = rule("accepted", "Accepted", after=("failed",), new_user=True)
    assert t.observe(accepted, rec("Accepted", user="bob"), 1.0)[0] is None  # no failure before
    t.observe(failed, rec("auth failure", pid=2, user="root"), 1.0)
    assert t.observe(accepted, rec("Accepted", pid=2, user="root"), 2.0)[0] is None  # same user: no alert
    t.observe(failed, rec("auth failure", pid=3, user="root"), 1.0)
    assert t.observe(accepted, rec("Accepted", pid=3, user="known"), 2.0)[0]["user"] == "known"
    closed = rule("closed", "closed", after=("failed",), unless=("accepted",))
    assert t.observe(closed, rec("closed", pid=3), 3.0)[0] is None  # the connection did log in


def test_sessions_are_bounded_in_number_and_time():
    t = SessionTable(max_sessions=10)
    r = rule("r", "x", fill=True)
    for pid in range(25):
        t.observe(r, rec("x", pid=pid, ip="203.0.113.9"), 1.0)
    assert len(t) == 10 and t.evicted == 15
    t.observe(r, rec("x", pid=30, ip="198.51.100.1"), 1.0)
    late, _ = t.observe(r, rec("x", pid=30), 1.0 + 601)  # past the default 600 s: a reused pid starts afresh
    assert "src_ip" not in late and t.expired == 1


def test_no_pid_means_no_correlation():
    t = SessionTable()
    after = rule("after", "y", after=("x",))
    assert t.observe(after, {"host": "h", "message": "y"}, 1.0) == (None, [])
    assert len(t) == 0


def test_pipeline_attributes_an_addressless_sshd_failure_to_its_connection():
    rules = load_rules_strict("rules")
    lines = b"Dec 10 07:00:01 h sshd[41]: Connection from 203.0.113.9 port 4242 on 10.0.0.9 port 22\n" + b"Dec 10 07:00:05 h sshd[41]: Disconnecting: Too many authentication failures for root [preauth]\n"
    alerts = Pipeline(rules, year=2016).process(lines, "t")
    got = [a for a in alerts if a.rule_id == "sshd_auth_exhausted"]
    assert [a.src_ip for a in got] == ["203.0.113.9"]


def test_a_session_that_expires_waiting_stops_being_watched():
    """A watched key sends its connection's lines to the Python path; a session that expires with
    matches still waiting must hand its key back, or such keys pile up for good."""
    t = SessionTable()
    watched: set = set()
    t.attach(lambda key: None, lambda key, on: watched.add(key) if on else watched.discard(key), None)
    fail = rule("fail", "Too many", fill=True, wait_for_address=True, ttl_secs=60.0)
    for pid in range(50):
        t.observe(fail, rec("Too many", pid=pid), 1.0)
    assert len(watched) == 50
    for pid in range(50):  # the same connections, long after: each session expired, a new one starts
        t.observe(rule("seen", "Connection from", silent=True), rec("Connection from", pid=pid), 1000.0)
    assert t.expired == 50 and watched == set()


def test_sessions_idle_past_their_ttl_and_the_grace_are_swept():
    """Nearly every sshd connection has a pid of its own and never comes back: without the sweep
    such sessions stayed until the cap (100k, most of the daemon's memory on an attack log)."""
    t = SessionTable(ttl_max=600.0)
    r = rule("r", "x", fill=True)
    for pid in range(1000):  # a new connection every 10 s
        t.observe(r, rec("x", pid=pid, ip="203.0.113.9"), pid * 10.0)
    kept = (600.0 + GRACE) / 10
    assert kept <= len(t) <= kept + 2 and t.expired == 1000 - len(t) and t.evicted == 0
    out, _ = t.observe(rule("f", "y", fill=True), rec("y", pid=999), 9995.0)
    assert out["src_ip"] == "203.0.113.9"  # a live connection keeps what it said


def test_a_forged_future_time_sweeps_nothing():
    """Event time drives the sweep only up to the wall clock + AHEAD: one line dated a year ahead
    must not make every live connection look idle."""
    t = SessionTable(ttl_max=600.0)
    t.horizon = 5000.0 + AHEAD  # the pipeline sets it per batch from its clock
    r = rule("r", "x", fill=True)
    for pid in range(100):
        t.observe(r, rec("x", pid=pid, ip="203.0.113.9"), 5000.0)
    t.observe(r, rec("x", pid=10_000, ip="198.51.100.1"), 5000.0 + 365 * 86400)
    for pid in range(100, 200):
        t.observe(r, rec("x", pid=pid, ip="203.0.113.9"), 5001.0)
    assert len(t) == 201 and t.expired == 0
    out, _ = t.observe(rule("f", "y", fill=True), rec("y", pid=5), 5002.0)
    assert out["src_ip"] == "203.0.113.9"


def test_the_compiled_sweeps_use_the_same_grace_and_horizon():
    """Groups, sessions and marks are swept alike in C and in Python (one grace, one horizon)."""
    import support
    from ironpost.core.extensions import compiled
    from ironpost.log_pipeline.buckets.state import MemoryState

    ext = compiled("matcher")
    support.need(ext is not None, "ironpost._ext.matcher not built")
    assert (ext.SWEEP_GRACE, ext.SWEEP_AHEAD) == (GRACE, AHEAD) == (MemoryState.GRACE, AHEAD)
