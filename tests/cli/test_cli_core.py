import io
import logging

import orjson
from typer.testing import CliRunner

from ironpost.cli import app
from ironpost.core.logging import setup_logging

runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("ironpost 0.")


def test_config_validate_ok_and_invalid(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[general]\nlog_level = "debug"\n')
    r = runner.invoke(app, ["cli", "config", "validate", "--config", str(good)], env={})
    assert r.exit_code == 0 and "is valid" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[general]\nlog_level = "debug"\nlog_formt = "json"\n[ebpf]\nxdp_mode = "x"\n')
    r = runner.invoke(app, ["cli", "config", "validate", "--config", str(bad)])
    assert r.exit_code == 2
    assert "2 problems" in r.output
    assert "line 3: general.log_formt: unknown key (did you mean general.log_format?)" in r.output
    assert "line 5: ebpf.xdp_mode" in r.output


def test_config_show_applies_env_and_redacts(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[log_pipeline.storage]\npostgres_url = "postgresql://ironpost:hunter2@db/ironpost"\n')
    r = runner.invoke(app, ["cli", "config", "show", "--config", str(cfg), "--json"], env={"IRONPOST_GENERAL_LOG_LEVEL": "error"})
    assert r.exit_code == 0, r.output
    shown = orjson.loads(r.output)
    assert shown["general"]["log_level"] == "error"
    assert shown["log_pipeline.storage"]["postgres_url"] == "postgresql://ironpost:***@db/ironpost"
    assert "hunter2" not in r.output


def test_status_without_daemon_says_so(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[general]\ndata_dir = "{tmp_path}"\n')
    r = runner.invoke(app, ["cli", "status", "--config", str(cfg)])
    assert r.exit_code == 1
    assert "no daemon is listening" in r.output and "ironpost daemon --config" in r.output


def test_every_command_has_help_with_an_example():
    for args in (["daemon"], ["cli", "config", "validate"], ["cli", "config", "show"], ["cli", "status"], ["cli", "reload"], ["cli", "metrics"]):
        r = runner.invoke(app, args + ["--help"])
        assert r.exit_code == 0 and "Example" in r.output, args


def test_json_logs_carry_level_module_and_trace_id():
    buf = io.StringIO()
    setup_logging("info", "json", stream=buf)
    logging.getLogger("ironpost.log_pipeline.rules").warning("rule fired", extra={"rule_id": "ssh", "trace_id": "abc123"})
    logging.getLogger("ironpost.daemon").debug("hidden at info", extra={"trace_id": "abc123"})
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    rec = orjson.loads(lines[0])
    assert rec["level"] == "warning" and rec["module"] == "log_pipeline" and rec["trace_id"] == "abc123"
    assert rec["msg"] == "rule fired" and rec["rule_id"] == "ssh"


def test_example_config_is_the_generated_one_and_documents_every_key():
    from pathlib import Path

    from ironpost.cli.config import render_example
    from ironpost.core.config.sections import SECTIONS

    text = render_example()
    shipped = (Path(__file__).resolve().parents[2] / "ironpost.toml.example").read_text()
    assert shipped == text, "ironpost.toml.example is stale: regenerate with `ironpost cli config example`"
    for section in SECTIONS.values():
        for key, spec in section.fields.items():
            assert f"\n{key} = " in text and spec.doc, f"{section.name}.{key} undocumented"


def _leaf_commands(group, prefix):
    import typer.main

    cmd = typer.main.get_command(group) if not hasattr(group, "commands") else group
    for name, sub in getattr(cmd, "commands", {}).items():
        if hasattr(sub, "commands"):
            yield from _leaf_commands(sub, prefix + [name])
        else:
            yield prefix + [name]


def test_every_registered_command_explains_itself_with_an_example():
    leaves = list(_leaf_commands(app, []))
    assert len(leaves) >= 26  # every group is registered
    missing = []
    for path in leaves:
        r = runner.invoke(app, path + ["--help"])
        if r.exit_code != 0 or "example" not in r.output.lower():
            missing.append(" ".join(path))
    assert not missing, f"commands without an example in --help: {missing}"


def _loaded_after(argv: list[str]) -> set[str]:
    """Run the `ironpost` entry point with argv in a fresh interpreter; the ironpost.cli and
    typer modules it loaded."""
    import subprocess
    import sys

    code = ("import sys\nsys.argv = ['ironpost', *sys.argv[1:]]\nfrom ironpost.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(' '.join(m for m in sys.modules if m.startswith(('ironpost.cli', 'typer'))))\n")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    return set(r.stderr.split())


def test_version_answers_before_typer_and_the_groups_load():
    loaded = _loaded_after(["--version"])
    assert not any(m.startswith("typer") for m in loaded) and "ironpost.cli.root" not in loaded


def test_a_command_line_loads_only_the_group_it_names():
    loaded = _loaded_after(["cli", "alerts", "--help"])
    assert "ironpost.cli.alerts" in loaded and "ironpost.cli.root" in loaded
    assert not loaded & {"ironpost.cli.sbom", "ironpost.cli.net", "ironpost.cli.rules", "ironpost.cli.control"}
    everything = _loaded_after(["cli", "--help"])  # help lists every group
    assert {"ironpost.cli.sbom", "ironpost.cli.net", "ironpost.cli.rules", "ironpost.cli.control"} <= everything
