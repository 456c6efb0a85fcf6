"""`cli rules` validate / test / explain through typer's CliRunner."""

import orjson
from typer.testing import CliRunner

import lp_support  # noqa: F401  (puts bench/ on sys.path)
import authlog
from lp_support import FIXTURES, RULES
from ironpost.log_pipeline.rules.loader import load_rules_strict
from ironpost.cli.rules import app

runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()

RFC5424 = "<34>1 2024-05-01T10:00:00.25Z web1 sshd 4242 - - Accepted password for root from 203.0.113.9 port 2222 ssh2\n"


def test_validate_ok_and_problems(tmp_path):
    r = runner.invoke(app, ["validate", "--dir", str(RULES)])
    assert r.exit_code == 0, r.output
    n = len(load_rules_strict(RULES))
    assert n >= 9 and f"{n} rule(s) valid, 0 problem(s)" in r.output
    (tmp_path / "bad.yaml").write_text("id: b\ntitle: t\nseverity: low\ndetection:\n  conditions:\n"
                                       "    - field: message\n      operator: regex\n      value: '(x)\\1'\n")
    r = runner.invoke(app, ["validate", "--dir", str(tmp_path)])
    assert r.exit_code == 1
    assert "bad.yaml:6 [b]" in r.output and "rejected" in r.output


def test_test_rfc5424_on_stdin_json():
    r = runner.invoke(app, ["test", "--rule", str(RULES), "--stdin", "--json"], input=RFC5424)
    assert r.exit_code == 1  # an alert fired
    objs = [orjson.loads(x) for x in r.stdout.splitlines()]
    match = next(o for o in objs if o["type"] == "match")
    assert match["rule_id"] == "ssh_root_login" and match["fields"]["host"] == "web1"
    alert = next(o for o in objs if o["type"] == "alert")
    assert alert["rule_id"] == "ssh_root_login" and alert["severity"] == "high" and alert["count"] == 1
    assert alert["first_seen"] == alert["last_seen"] == 1714557600.25 and alert["src_ip"] == "203.0.113.9"


def test_test_file_brute_force_alert_has_group_values(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(authlog.generate(5000, 200, seed=5))
    r = runner.invoke(app, ["test", "--rule", str(RULES / "ssh_brute_force.yaml"), "--file", str(log), "--json",
                            "--year", "2016", "--alerts-only"])
    assert r.exit_code == 1, r.output
    alerts = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert alerts and all(a["type"] == "alert" and a["rule_id"] in ("ssh_brute_force", "ssh_brute_force_slow")
                          for a in alerts)
    a = next(x for x in alerts if x["rule_id"] == "ssh_brute_force")
    assert a["src_ip"] and a["group"] == {"src_ip": a["src_ip"]} and a["count"] >= 5
    assert a["first_seen"] <= a["last_seen"] and a["last_seen_iso"].startswith("2016-12-10T")


def test_test_no_alert_exit_0_and_bad_rule_exit_2(tmp_path):
    r = runner.invoke(app, ["test", "--rule", str(RULES / "ssh_root_login.yaml"), "--file", str(FIXTURES / "Linux_2k.log")])
    assert r.exit_code == 0
    (tmp_path / "bad.yaml").write_text("id: x\n")
    r = runner.invoke(app, ["test", "--rule", str(tmp_path), "--stdin"], input=RFC5424)
    assert r.exit_code == 2


def test_explain_reports_each_condition():
    line = "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2"
    r = runner.invoke(app, ["explain", "--rule", str(RULES / "sudo_auth_failure.yaml"), "--line", line, "--json"])
    assert r.exit_code == 1
    res = orjson.loads(r.stdout)
    assert res["fields"]["src_ip"] == "173.234.31.186" and res["matched"] is False
    first = res["conditions"][0]
    assert first["held"] is False and "'sshd' does not equal 'sudo'" in first["why"] and first["line"] == 8
    r = runner.invoke(app, ["explain", "--rule", str(RULES / "ssh_brute_force.yaml"), "--line", line])
    assert r.exit_code == 0 and "MATCH" in r.stdout and "held" in r.stdout and "src_ip = '173.234.31.186'" in r.stdout


def test_validate_counts_never_go_negative(tmp_path):
    (tmp_path / "good.yaml").write_text("id: g\ntitle: t\nseverity: low\ndetection:\n  conditions:\n"
                                        "    - field: message\n      operator: contains\n      value: x\n")
    (tmp_path / "broken.yaml").write_text("id: b\ntitle: t\nseverity: low\ndetection:\n  conditions: []\n  colour: red\n")
    r = runner.invoke(app, ["validate", "--dir", str(tmp_path)])
    assert r.exit_code == 1
    assert "1 rule(s) valid, 2 problem(s)" in r.output


def test_test_without_input_summarizes_the_rules():
    # CliRunner's stdin is not a terminal and empty: the rules are summarized after reading nothing
    r = runner.invoke(app, ["test", "--rule", str(RULES / "ssh_brute_force.yaml")], input="")
    assert r.exit_code == 0, r.output
    assert "ssh_brute_force (high)" in r.stdout and "alerts: 5 matching lines within 60s per src_ip" in r.stdout
