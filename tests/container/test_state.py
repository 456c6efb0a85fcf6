"""The isolation record that release relies on (no engine needed)."""

from __future__ import annotations

from ironpost.container.state import IsolationState


def test_records_merge_and_are_shared_between_processes(tmp_path):
    daemon_view = IsolationState(tmp_path / "iso.json")
    cli_view = IsolationState(tmp_path / "iso.json")  # e.g. `cli container release` acting directly
    daemon_view.record("web-1", "id1", networks=[{"name": "front", "aliases": ["w"], "ipv4": None}], policy="p1", alert_id="a1")
    daemon_view.record("web-1", "id1", paused=True, networks=[{"name": "front", "aliases": [], "ipv4": None}], policy="p2")
    rec = cli_view.get("web-1")
    assert rec["paused"] is True and rec["stopped"] is False and rec["policy"] == "p2"
    assert rec["networks"] == [{"name": "front", "aliases": ["w"], "ipv4": None}]  # first removal kept, not duplicated
    cli_view.forget("web-1")
    assert daemon_view.get("web-1") is None and daemon_view.all() == {}
    daemon_view.record("web-1", "id2", stopped=True)  # a new container under the same name starts afresh
    daemon_view.record("web-1", "id3", paused=True)
    assert cli_view.get("web-1") == {"id": "id3", "paused": True, "stopped": False, "networks": [], "policy": None, "alert_id": None,
                                      "trace_id": None}


def test_damaged_file_starts_empty(tmp_path):
    p = tmp_path / "iso.json"
    p.write_text("{not json")
    st = IsolationState(p)
    assert st.all() == {}
    st.record("db-1", "id", stopped=True)
    assert IsolationState(p).get("db-1")["stopped"] is True
