"""import-sigma: supported Sigma shapes become working Ironpost rules; the rest is reported with a reason."""

from pathlib import Path

import orjson
from typer.testing import CliRunner

from ironpost.cli.rules import app
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules import load_rules
from ironpost.log_pipeline.rules.sigma import convert_path

SIGMA = Path(__file__).resolve().parents[1] / "fixtures" / "sigma"


def converted(tmp_path, name):
    out = tmp_path / name
    out.mkdir()
    for res in convert_path(SIGMA / f"{name}.yml"):
        assert res.error is None, res.error
        (out / f"{res.rule_id}.yaml").write_text(res.yaml)
    rules, problems = load_rules(out)
    assert not problems
    return rules


def test_keywords_become_case_insensitive_raw_regex(tmp_path):
    rules = converted(tmp_path, "sshd_failed")
    assert [r.id for r in rules] == ["sigma_failed_ssh_password_for_root"] and rules[0].severity == "medium"
    lines = b"Dec 10 06:55:46 h sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2\n" \
            b"Dec 10 06:55:46 h sshd[1]: FAILED PASSWORD FOR INVALID USER ROOT from 1.2.3.4 port 22 ssh2\n" \
            b"Dec 10 06:55:46 h sshd[1]: Failed password for alice from 1.2.3.4 port 22 ssh2\n"
    assert len(Pipeline(rules, year=2016).process(lines)) == 2


def test_selection_and_not_filter(tmp_path):
    rules = converted(tmp_path, "useradd_filter")
    lines = b"Mar  3 11:00:00 w useradd[1]: new user: name=backdoor, UID=1001\n" \
            b"Mar  3 11:00:00 w useradd[1]: new user: name=deploy, UID=1002\n" \
            b"Mar  3 11:00:00 w useradd[1]: new user: name=Ansible, UID=1003\n"
    alerts = Pipeline(rules, year=2024).process(lines)
    assert [a.details["message"] for a in alerts] == ["new user: name=backdoor, UID=1001"]
    conds = rules[0].conditions
    assert any(c.negate and c.operator == "regex" for c in conds)


def test_one_of_splits_into_rules(tmp_path):
    rules = converted(tmp_path, "one_of")
    assert sorted(r.id for r in rules) == ["sigma_privilege_escalation_tools_1", "sigma_privilege_escalation_tools_2"]
    lines = b"Mar  3 10:00:00 w sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/sh\n" \
            b"Mar  3 10:00:00 w su[2]: pam_unix(su-l:session): session opened for user root(uid=0) by alice(uid=1000)\n" \
            b"Mar  3 10:00:00 w sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=bob ; COMMAND=/bin/sh\n"
    assert len(Pipeline(rules, year=2024).process(lines)) == 2


def test_unsupported_rules_are_reported_with_reason():
    res = convert_path(SIGMA / "unsupported.yml")
    assert [r.error is not None for r in res] == [True, True]
    assert "aggregation" in res[0].error and "base64offset" in res[1].error


def test_cli_import_sigma(tmp_path):
    r = CliRunner().invoke(app, ["import-sigma", str(SIGMA), "--out", str(tmp_path), "--json"])
    assert r.exit_code == 1  # two of the fixtures cannot be converted
    objs = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert sum(o["converted"] for o in objs) == 4 and sum(not o["converted"] for o in objs) == 2
    assert all(o["reason"] for o in objs if not o["converted"])
    assert len(list(tmp_path.glob("*.yaml"))) == 4
    assert CliRunner().invoke(app, ["validate", "--dir", str(tmp_path)]).exit_code == 0


def test_malformed_sigma_documents_are_reported_not_crashed_on():
    """Found by tests/reliability/test_fuzz.py: `detection: null` raised AttributeError."""
    from ironpost.log_pipeline.rules.sigma import convert_doc

    for doc in ({"title": "t", "detection": None}, {"title": "t", "detection": ["a"]}, {"title": "t", "detection": "x"}):
        (res,) = convert_doc(doc, "bad.yml")
        assert res.error.startswith("detection must be a mapping")
    det = {"sel": {"message|contains": "x"}, "condition": "sel"}
    (res,) = convert_doc({"title": "t", "detection": det, "tags": 5, "references": "https://example.org"}, "odd.yml")
    assert res.error is None and "- '5'" in res.yaml and "https://example.org" in res.yaml


def test_value_lists_convert():
    """A list of plain values (an `in`) or of CIDRs made the converter crash: atoms holding a
    list could not be hashed when branches were deduplicated (found by the fuzz suite)."""
    import yaml

    from ironpost.log_pipeline.rules.sigma import convert_doc

    det = {"sel": {"process": ["sshd", "su"], "src_ip|cidr": ["10.0.0.0/8", "192.0.2.0/24"]}, "condition": "sel"}
    (res,) = convert_doc({"title": "lists", "detection": det}, "lists.yml")
    assert res.error is None, res.error
    conds = yaml.safe_load(res.yaml)["detection"]["conditions"]
    assert {"field": "process", "operator": "in", "value": ["sshd", "su"], "modifier": "case_insensitive"} in conds
    assert any(c["operator"] == "cidr" and c["value"] == ["10.0.0.0/8", "192.0.2.0/24"] for c in conds)
    (empty,) = convert_doc({"title": "e", "detection": {"sel": {"process": []}, "condition": "sel"}}, "e.yml")
    assert "empty list of values" in empty.error


def test_a_quantifier_without_its_selection_is_reported():
    """Found by tests/reliability/atheris_targets.py (sigma): `condition: 1 of` raised TypeError."""
    from ironpost.log_pipeline.rules.sigma import convert_doc

    for cond in ("1 of", "all of", "sel and 1 of", "1 of and sel", "all of ("):
        det = {"sel": {"message|contains": "x"}, "condition": cond}
        (res,) = convert_doc({"title": "t", "detection": det}, "q.yml")
        assert res.error and "needs a selection name or pattern" in res.error, (cond, res.error)
