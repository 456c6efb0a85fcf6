"""Rule files: every problem reported with file and line; valid rules load into the model."""

from pathlib import Path

import pytest

from ironpost.core.errors import RuleError
from ironpost.log_pipeline.rules import load_rules, load_rules_strict
from lp_support import RULES

BAD = """\
id: bad rule!
title: ''
severity: urgent
detection:
  conditions:
    - field: message
      operator: matches
      value: x
    - field: message
      operator: regex
      value: '(unclosed'
    - field: src_ip
      operator: cidr
      value: 10.0.0.0/33
    - field: port
      operator: gt
      value: many
    - field: message
      operator: contains
      modifier: sometimes
      value: x
threshold:
  count: 0
  timeframe_secs: -1
  group_by: [src_ip, 3]
colour: red
"""


def test_every_problem_has_file_and_line(tmp_path: Path):
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    rules, problems = load_rules(tmp_path)
    assert rules == []
    by_line = {p.line: str(p) for p in problems}
    assert all(p.file == str(f) for p in problems)
    expected = {1: "id is required", 2: "title is required", 3: "severity must be", 7: "operator must be",
                11: "invalid regex", 14: "not a network", 17: "gt needs a number", 20: "modifier must be",
                23: "count must be", 24: "timeframe_secs", 25: "group_by", 26: "unknown key 'colour'"}
    for line, text in expected.items():
        assert line in by_line and text in by_line[line], (line, by_line)


def test_yaml_syntax_error_has_line(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("id: x\ntitle: [unclosed\nseverity: low\n")
    _, problems = load_rules(tmp_path)
    assert len(problems) == 1 and problems[0].line is not None and "invalid YAML" in str(problems[0])


def test_pattern_limit_and_duplicate_ids(tmp_path: Path):
    long = "a" * 1001
    (tmp_path / "a.yaml").write_text(f"id: r1\ntitle: t\nseverity: low\ndetection:\n  conditions:\n"
                                     f"    - {{field: message, operator: regex, value: '{long}'}}\n")
    (tmp_path / "b.yaml").write_text("id: r2\ntitle: t\nseverity: low\ndetection:\n  conditions:\n"
                                     "    - {field: message, operator: contains, value: x}\n---\n"
                                     "id: r2\ntitle: t\nseverity: low\ndetection:\n  conditions:\n"
                                     "    - {field: message, operator: contains, value: y}\n")
    rules, problems = load_rules(tmp_path)
    msgs = [str(p) for p in problems]
    assert any("limit is 1000" in m and ":6" in m for m in msgs)
    assert any("duplicate rule id" in m for m in msgs)
    assert [r.id for r in rules] == ["r2"]
    with pytest.raises(RuleError) as ei:
        load_rules_strict(tmp_path)
    assert len(ei.value.problems) == 2


def test_starter_rules_load():
    rules, problems = load_rules(RULES)
    assert problems == []
    ids = {r.id for r in rules}
    assert {"ssh_brute_force", "ssh_invalid_user_enumeration", "sudo_auth_failure", "su_to_root", "new_user_or_group",
            "ssh_root_login", "pam_brute_force"} <= ids
    # SYN flood and port scan have one home, the network module's detectors (docs/design-decisions.md)
    assert not [r.id for r in rules if r.input == "packets"]
    bf = next(r for r in rules if r.id == "ssh_brute_force")
    assert bf.threshold.count == 5 and bf.threshold.timeframe_secs == 60 and bf.threshold.group_by == ("src_ip",)


def test_condition_semantics():
    from ironpost.log_pipeline.rules.model import Condition

    rec = {"message": "Failed Password", "port": 22, "src_ip": "10.1.2.3", "user": "Root"}
    assert Condition("message", "contains", "password", frozenset({"case_insensitive"})).holds(rec)
    assert not Condition("message", "contains", "password").holds(rec)
    assert Condition("message", "contains", "password", frozenset({"not"})).holds(rec)
    assert Condition("port", "gt", 21).holds(rec) and not Condition("port", "lt", 22).holds(rec)
    assert Condition("src_ip", "cidr", ["10.0.0.0/8"]).holds(rec)
    assert not Condition("src_ip", "cidr", "192.168.0.0/16").holds(rec)
    assert Condition("user", "in", ["root", "admin"], frozenset({"case_insensitive"})).holds(rec)
    assert Condition("port", "equals", 22).holds(rec) and Condition("port", "equals", "22").holds(rec)
    assert Condition("missing", "exists", False).holds(rec) and not Condition("missing", "exists").holds(rec)
    held, why = Condition("user", "equals", "admin").evaluate(rec)
    assert not held and "does not equal" in why
    held, why = Condition("nope", "contains", "x").evaluate(rec)
    assert not held and "missing" in why


_HEAD = "id: t\ntitle: t\nseverity: low\ndetection:\n  conditions:\n    - field: message\n      operator: contains\n      value: x\n"
_THRESHOLD = "threshold:\n  count: 3\n  timeframe_secs: 30\n  group_by: [src_ip, user]\n"


def test_threshold_inside_detection_means_the_same_as_top_level(tmp_path: Path):
    (tmp_path / "top.yaml").write_text(_HEAD + _THRESHOLD)
    (tmp_path / "inner.yaml").write_text(_HEAD.replace("id: t", "id: u") + "".join("  " + l + "\n" for l in _THRESHOLD.splitlines()))
    rules, problems = load_rules(tmp_path)
    assert problems == []
    by_id = {r.id: r.threshold for r in rules}
    assert by_id["t"] == by_id["u"] and by_id["t"].count == 3 and by_id["t"].group_by == ("src_ip", "user")


def test_threshold_in_both_places_is_an_error(tmp_path: Path):
    (tmp_path / "both.yaml").write_text(_HEAD + "  " + _THRESHOLD.replace("\n  ", "\n    ") + _THRESHOLD)
    rules, problems = load_rules(tmp_path)
    assert rules == [] and len(problems) == 1
    # lines are those of the mappings (their first key), as for every other value
    assert problems[0].line == 14 and "threshold is given twice" in str(problems[0]) and "line 10" in str(problems[0])


def test_inner_threshold_is_checked_like_the_top_level_one(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(_HEAD + "  threshold:\n    count: 0\n    timeframe_secs: 5\n    colour: red\n")
    _, problems = load_rules(tmp_path)
    text = "\n".join(map(str, problems))
    assert "threshold.count must be" in text and "unknown key 'colour' in threshold" in text


def test_or_missing_holds_when_the_field_is_absent_and_checks_it_when_present(tmp_path):
    from ironpost.log_pipeline.rules import load_rules

    (tmp_path / "r.yaml").write_text(
        "id: r\ntitle: t\nseverity: high\ndetection:\n  conditions:\n"
        "    - field: process\n      operator: in\n      value: [mysqld]\n      modifier: or_missing\n"
        "    - field: message\n      operator: contains\n      value: denied\n")
    (rule,), problems = load_rules(tmp_path)
    assert problems == []
    cond = rule.conditions[0]
    assert cond.or_missing and cond.hs_pattern() == b"^(?:mysqld)$"  # in C too: there an absent field counts as a match
    assert cond.evaluate({"message": "denied"}) == (True, "field 'process' is missing, which or_missing allows")
    assert cond.holds({"process": "mysqld"}) and not cond.holds({"process": "webapp"})
