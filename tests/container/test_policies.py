"""Policy files: parsing, located errors, priority order, alert-to-container mapping (no engine needed)."""

from __future__ import annotations

from pathlib import Path

from ironpost.container.model import ContainerInfo
from ironpost.container.policies import load_policies, load_policy_file
from ironpost.core.events import AlertEvent

GOOD = """
[[policy]]
name = "pause-web"
priority = 10
severity_threshold = "medium"
action = "pause"
[policy.filters]
container_names = ["web-*"]

[[policy]]
name = "cut-db"
priority = 50
severity_threshold = "high"
action = "network_disconnect"
networks = ["backend"]
[policy.filters]
image_patterns = ["postgres:*"]
"""

C_WEB = ContainerInfo("a" * 64, "web-1", "nginx:1.25", "running", {}, ("bridge",))
C_API = ContainerInfo("b" * 64, "api-1", "python:3.12", "running", {}, ("bridge",))
C_DB = ContainerInfo("c" * 64, "db-1", "postgres", "running", {}, ("backend", "bridge"))
ALL = [C_WEB, C_API, C_DB]


def alert(severity="high", **kw) -> AlertEvent:
    return AlertEvent(rule_id="r1", title="t", severity=severity, **kw)


def write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.write_text(text)
    return p


def test_good_file_loads_sorted_by_priority(tmp_path):
    write(tmp_path, "a.toml", GOOD)
    ps = load_policies(tmp_path)
    assert ps.errors == []
    assert [p.name for p in ps.policies] == ["cut-db", "pause-web"]
    db = ps.policies[0]
    assert db.networks == ("backend",) and db.image_patterns == ("postgres:*",) and db.line == 10


def test_broken_file_reports_file_and_line_and_valid_files_still_load(tmp_path):
    write(tmp_path, "a-good.toml", GOOD)
    bad = write(tmp_path, "b-bad.toml", '[[policy]]\nname = "x"\naction = "explode"\n')
    syntax = write(tmp_path, "c-syntax.toml", '[[policy]]\nname = "y"\naction = "pause"\npriority = = 3\n')
    ps = load_policies(tmp_path)
    assert [p.name for p in ps.policies] == ["cut-db", "pause-web"]
    errs = {e.file: e for e in ps.errors}
    assert set(errs) == {str(bad), str(syntax)}
    assert errs[str(bad)].line == 3 and "action must be one of pause, stop, network_disconnect" in errs[str(bad)].reason
    assert errs[str(syntax)].line == 4 and "invalid TOML" in errs[str(syntax)].reason
    assert str(errs[str(bad)]).startswith(f"{bad}:3 [x]: ")


def test_one_bad_policy_does_not_reject_its_neighbours(tmp_path):
    p = write(tmp_path, "p.toml", GOOD + '\n[[policy]]\nname = "typo"\naction = "stop"\npriority = 1\n[policy.filters]\ncontainer_name = ["x"]\n')
    policies, errors = load_policy_file(p)
    assert [x.name for x in policies] == ["pause-web", "cut-db"]
    assert len(errors) == 1 and errors[0].line == 24 and "unknown filter 'container_name'" in errors[0].reason


def test_semantic_errors_are_located(tmp_path):
    cases = {
        'severity_threshold = "urgent"': ("severity_threshold must be one of", 4),
        'priority = "high"': ("priority must be an integer", 4),
        'networks = ["n"]': ("networks is only meaningful", 4),
        'colour = "red"': ("unknown key 'colour'", 4),
    }
    for n, (line, (reason, lineno)) in enumerate(cases.items()):
        p = write(tmp_path, f"s{n}.toml", f'[[policy]]\nname = "p{n}"\naction = "pause"\n{line}\n')
        policies, errors = load_policy_file(p)
        assert policies == [] and len(errors) == 1, line
        assert reason in errors[0].reason and errors[0].line == lineno, (line, errors[0])


def test_duplicate_names_across_files(tmp_path):
    write(tmp_path, "a.toml", GOOD)
    write(tmp_path, "b.toml", '[[policy]]\nname = "pause-web"\naction = "stop"\n')
    ps = load_policies(tmp_path)
    assert len(ps) == 2 and len(ps.errors) == 1 and "duplicate policy name" in ps.errors[0].reason


def test_alert_naming_a_container_maps_to_it_only(tmp_path):
    write(tmp_path, "a.toml", GOOD + '\n[[policy]]\nname = "catch-all"\npriority = 1\naction = "stop"\n')
    ps = load_policies(tmp_path)
    plan = ps.plan(alert(container_name="api-1"), ALL)
    assert [(d.policy.name, d.container.name) for d in plan.decisions] == [("catch-all", "api-1")]
    plan = ps.plan(alert(container_id="a" * 12), ALL)  # docker's short id
    assert [(d.policy.name, d.container.name) for d in plan.decisions] == [("pause-web", "web-1")]
    plan = ps.plan(alert(details={"source": f"docker:db-1:{'c' * 64}"}), ALL)
    assert [(d.policy.name, d.container.name) for d in plan.decisions] == [("cut-db", "db-1")]
    plan = ps.plan(alert(container_name="ghost"), ALL)
    assert plan.decisions == [] and plan.unresolved and plan.named == "ghost"


def test_alert_naming_none_uses_filters_and_never_the_catch_all(tmp_path):
    write(tmp_path, "a.toml", GOOD + '\n[[policy]]\nname = "catch-all"\npriority = 99\naction = "stop"\n')
    ps = load_policies(tmp_path)
    plan = ps.plan(alert("high"), ALL)
    assert [(d.policy.name, d.container.name) for d in plan.decisions] == [("cut-db", "db-1"), ("pause-web", "web-1")]
    plan = ps.plan(alert("medium"), ALL)  # below cut-db's threshold
    assert [(d.policy.name, d.container.name) for d in plan.decisions] == [("pause-web", "web-1")]
    assert ps.plan(alert("low"), ALL).decisions == []


def test_highest_priority_wins_and_ties_go_by_name(tmp_path):
    write(tmp_path, "a.toml", """
[[policy]]
name = "b-stop"
priority = 5
action = "stop"
[[policy]]
name = "a-pause"
priority = 5
action = "pause"
[[policy]]
name = "z-low"
priority = 1
action = "network_disconnect"
""")
    ps = load_policies(tmp_path)
    plan = ps.plan(alert(container_name="web-1"), ALL)
    assert [d.policy.name for d in plan.decisions] == ["a-pause"]


def test_image_globs_match_implicit_latest():
    from ironpost.container.policies import Policy

    p = Policy(name="p", action="pause", image_patterns=("postgres:latest",))
    assert p.matches(C_DB) and not p.matches(C_WEB)
    both = Policy(name="q", action="pause", container_names=("db-*",), image_patterns=("nginx:*",))
    assert not both.matches(C_DB)  # every filter given must match


def test_missing_directory_is_empty(tmp_path):
    ps = load_policies(tmp_path / "nope")
    assert len(ps) == 0 and ps.errors == []


def test_shipped_example_policies_are_valid():
    path = Path(__file__).resolve().parents[2] / "packaging" / "policies"
    ps = load_policies(path)
    assert ps.errors == [] and [p.name for p in ps.policies] == ["stop-on-critical", "cut-database-networks", "pause-named"]
    plan = ps.plan(alert("critical", container_name="web-1"), ALL)
    assert [(d.policy.name, d.container.name) for d in plan.decisions] == [("stop-on-critical", "web-1")]
    plan = ps.plan(alert("high"), ALL)  # names nothing: only filtered policies act
    assert [(d.policy.name, d.container.name) for d in plan.decisions] == [("cut-database-networks", "db-1")]
