"""`ironpost cli rules ...`: validate, test, explain and import detection rules."""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import Optional

import orjson
import typer

from ironpost.core.config.sections.log_pipeline import FORMATS
from ironpost.core.errors import ConfigError, IronpostError, RuleError
from ironpost.core.framing import LineFramer

app = typer.Typer(help="Detection rules: validate, test against logs, explain, import Sigma.", no_args_is_help=True)

CHUNK = 1 << 20


def _load_config(path: Optional[Path]):
    from ironpost.cli.common import load_cli_config

    return load_cli_config(path)


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _formats_or_exit(fmt: str) -> dict[str, str]:
    """--format as a Pipeline `formats` table (every source); a name not in FORMATS exits 2."""
    if fmt not in FORMATS:
        _err(f"error: --format {fmt!r} is not one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    return {} if fmt == "auto" else {"*": fmt}


def _pipeline(rules, year: Optional[int], fast_thresholds: bool = True, formats: dict[str, str] | None = None):
    """The daemon's pipeline (Pipeline.from_section) with the [log_pipeline] defaults: the same
    object and limits the daemon runs, in process, with its state in memory; the file is a
    finished log, so its own times, not the wall clock, pace the sweeps of idle state."""
    from ironpost.core.config import parse_config
    from ironpost.log_pipeline.pipeline import Pipeline

    sec = parse_config({}, environ={}).section("log_pipeline")
    return Pipeline.from_section(rules, sec, year=year, fast_thresholds=fast_thresholds, formats=formats, replay=True)


def _rules_or_exit(path: Path):
    from ironpost.log_pipeline.rules.loader import load_rules

    rules, problems = load_rules(path)
    if problems:
        for p in problems:
            _err(f"error: {p}")
        raise typer.Exit(2)
    return rules


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + (f"{ts % 1:.3f}"[1:] if ts % 1 else "") + "Z"


ConfigOpt = typer.Option(None, "--config", help="ironpost.toml (default: $IRONPOST_CONFIG, ./ironpost.toml, /etc/ironpost/ironpost.toml, built-ins)")


@app.command()
def validate(
    dir: Optional[Path] = typer.Option(None, "--dir", help="rules directory or file (default: [log_pipeline] rules_dir)"),
    config: Optional[Path] = ConfigOpt,
):
    """Check every rule file and report every problem with file and line.

    Example: ironpost cli rules validate --dir rules/
    Exit 0 when all rules are valid, 1 when a problem was found, 2 on a usage or config error.
    """
    from ironpost.log_pipeline.rules.compile import validate_patterns
    from ironpost.log_pipeline.rules.loader import load_rules

    if dir is None:
        try:
            dir = Path(_load_config(config).section("log_pipeline").rules_dir)
        except ConfigError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(2)
    rules, problems = load_rules(dir)
    problems += validate_patterns(rules)
    for p in problems:
        typer.echo(f"error: {p}")
    for r in rules:
        if r.input == "logs" and all(c.hs_pattern() is None for c in r.conditions):
            typer.echo(f"warning: {r.file}:{r.line} [{r.id}]: no text condition the matcher can prefilter; "
                       "every log line is a candidate (slow)")
    # a rule that failed to load is not in `rules`; only pattern problems name a loaded one
    bad = {(p.file, p.rule_id) for p in problems}
    valid = sum(1 for r in rules if (r.file, r.id) not in bad)
    typer.echo(f"{valid} rule(s) valid, {len(problems)} problem(s)")
    raise typer.Exit(1 if problems else 0)


@app.command()
def test(
    rule: Path = typer.Option(..., "--rule", help="rule file or directory"),
    stdin: bool = typer.Option(False, "--stdin", help="read log lines from stdin (also the default without --file when stdin is not a terminal)"),
    file: Optional[Path] = typer.Option(None, "--file", help="log file to replay"),
    json_out: bool = typer.Option(False, "--json", help="one JSON object per line: type match or alert"),
    year: Optional[int] = typer.Option(None, "--year", help="year for syslog lines without one (default: current)"),
    matches: bool = typer.Option(True, "--matches/--alerts-only", help="print every matching line, or alerts only"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="progress on stderr (default: when a terminal)"),
    fmt: str = typer.Option("auto", "--format", help="read every line as this shape (" + ", ".join(FORMATS) +
                            "); auto detects each line's shape, as the daemon does for sources without a format"),
):
    """Run rules over log lines and print matches and fired alerts (thresholds use the lines' own time).

    Example: echo '<34>1 2024-05-01T10:00:00Z host sshd 1 - - Accepted password for root from 203.0.113.9 port 2222 ssh2' |
    ironpost cli rules test --rule rules/ --stdin --json
    Without --stdin or --file and with a terminal on stdin (nothing piped in), the rules are
    validated and summarized: what each matches and when it alerts.
    Exit 0 when no alert fired, 1 when at least one did, 2 on a bad rule or unreadable input.
    """
    rules = _rules_or_exit(rule)
    implicit = not stdin and file is None
    if implicit and sys.stdin.isatty():
        _summarize(rules)
        raise typer.Exit(0)
    try:
        # --matches prints every matching line, so thresholds are counted in Python, where each
        # match is seen; the compiled counters give the same alerts (tests/log_pipeline/test_lp_fast_thresholds.py)
        pipe = _pipeline(rules, year, fast_thresholds=not matches, formats=_formats_or_exit(fmt))
    except RuleError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2)
    if file is not None:
        try:
            src = open(file, "rb")
        except OSError as exc:
            _err(f"error: cannot read {file}: {exc}")
            raise typer.Exit(2)
        total = os.fstat(src.fileno()).st_size
        source = str(file)
    else:
        src, total, source = sys.stdin.buffer, 0, "stdin"
    out = sys.stdout.buffer
    # one write per batch: stdout may be unbuffered (PYTHONUNBUFFERED), and a syscall per line
    # cost more than matching the whole batch
    pending: list[bytes] = []
    fired = 0
    iso_cache: dict[float, str | None] = {}

    def iso(ts):
        # alerts of one burst share their times; bounded, as a long replay has many distinct ones
        s = iso_cache.get(ts)
        if s is None:
            if len(iso_cache) > 4096:
                iso_cache.clear()
            s = iso_cache[ts] = _iso(ts)
        return s

    def on_match(r, rec, _source):
        if json_out:
            pending.append(orjson.dumps({"type": "match", "rule_id": r.id, "severity": r.severity, "service": r.service,
                                         "fields": rec}, default=str) + b"\n")
        else:
            pending.append(f"match {r.id}: {rec.get('raw', rec.get('message', ''))}\n".encode("utf-8", "replace"))

    def emit(alerts):
        nonlocal fired
        for a in alerts:
            fired += 1
            if json_out:
                obj = {"type": "alert", "rule_id": a.rule_id, "severity": a.severity, "title": a.title, "service": a.details.get("service"),
                       **{k: v for k, v in a.group.items() if k not in ("type", "rule_id")},
                       "group": a.group, "count": a.count, "first_seen": a.first_seen, "last_seen": a.last_seen,
                       "first_seen_iso": iso(a.first_seen), "last_seen_iso": iso(a.last_seen),
                       "src_ip": a.src_ip, "trace_id": a.trace_id}
                pending.append(orjson.dumps(obj, default=str) + b"\n")
            else:
                grp = " ".join(f"{k}={v}" for k, v in a.group.items())
                pending.append(f"ALERT {a.severity} {a.rule_id} {grp} count={a.count} "
                               f"first={iso(a.first_seen)} last={iso(a.last_seen)}: {a.title}\n".encode())
        if pending:
            out.write(b"".join(pending))
            pending.clear()

    # start-up left ~100k objects (typer, rules, Hyperscan glue) that never die; without this the
    # collector walks them all again and again while alerts are made (~10% of a replay)
    gc.freeze()
    show = progress if progress is not None else (sys.stderr.isatty() and total > 0)
    framer = LineFramer()
    hook = on_match if matches else None
    done = 0
    t0 = last = time.monotonic()
    try:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            done += len(chunk)
            buf = framer.feed(chunk)
            if buf:
                emit(pipe.process(buf, source, hook))
            now = time.monotonic()
            if show and now - last >= 1.0:
                last = now
                pct = f"{100 * done / total:5.1f}% " if total else ""
                rate = pipe.stats["lines"] / max(now - t0, 1e-9)
                sys.stderr.write(f"\r{pct}{done >> 20} MiB, {int(pipe.stats['lines'])} lines, {rate:,.0f} lines/s")
                sys.stderr.flush()
        tail = framer.flush()
        if tail:
            emit(pipe.process(tail, source, hook))
    except OSError as exc:
        _err(f"error: reading input: {exc}")
        raise typer.Exit(2)
    finally:
        if file is not None:
            src.close()
    out.flush()
    if implicit and not pipe.stats["lines"]:
        _summarize(rules)
    if show:
        dt = time.monotonic() - t0
        sys.stderr.write(f"\r{int(pipe.stats['lines'])} lines in {dt:.2f}s, {pipe.stats['lines'] / max(dt, 1e-9):,.0f} lines/s, "
                         f"{sum(pipe.matches.values())} matches, {fired} alerts\n")
    raise typer.Exit(1 if fired else 0)


def _summarize(rules) -> None:
    for r in rules:
        typer.echo(f"{r.id} ({r.severity}): {r.title}  [{r.file}:{r.line}]")
        conds = " AND ".join(f"{c.field} {c.operator} {c.value!r}" + (f" [{', '.join(sorted(c.modifiers))}]" if c.modifiers else "")
                             for c in r.conditions)
        typer.echo(f"  matches: {conds}")
        t = r.threshold
        if t is None:
            typer.echo("  alerts: on every matching line")
        else:
            per = f" per {', '.join(t.group_by)}" if t.group_by else ""
            what = f"distinct {t.distinct} values" if t.distinct else "matching lines"
            typer.echo(f"  alerts: {t.count} {what} within {t.timeframe_secs:g}s{per}")
    typer.echo(f"{len(rules)} rule(s) valid. Pipe log lines in (--stdin) or give --file LOG to test them.")


@app.command()
def explain(
    rule: Path = typer.Option(..., "--rule", help="rule file (all its rules are explained, or --id)"),
    line: str = typer.Option(..., "--line", help="one log line"),
    rule_id: Optional[str] = typer.Option(None, "--id", help="only this rule id"),
    year: Optional[int] = typer.Option(None, "--year", help="year for syslog lines without one"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable result"),
    fmt: str = typer.Option("auto", "--format", help="read the line as this shape (" + ", ".join(FORMATS) + ")"),
):
    """Show the fields parsed from one line (and the shapes tried) and, for every condition, whether it held and why not.

    Example: ironpost cli rules explain --rule rules/ssh_brute_force.yaml --line 'Dec 10 06:55:46 host sshd[24200]: Failed password for root from 203.0.113.9 port 22 ssh2'
    Exit 0 when every explained rule matched the line, 1 when one did not, 2 on a bad rule.
    """
    rules = _rules_or_exit(rule)
    if rule_id:
        rules = [r for r in rules if r.id == rule_id]
        if not rules:
            _err(f"error: no rule with id {rule_id!r} in {rule}")
            raise typer.Exit(2)
    try:
        pipe = _pipeline(rules, year, formats=_formats_or_exit(fmt))
    except IronpostError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2)
    results = [pipe.explain(r, line) for r in rules]
    if json_out:
        for res in results:
            typer.echo(orjson.dumps(res, default=str).decode())
    else:
        for res in results:
            typer.echo(f"rule {res['rule']}: {'MATCH' if res['matched'] else 'no match'} (format {res.get('format')})")
            if res.get("format") == "raw":
                tried = ", ".join(res.get("shapes_tried") or []) or "none"
                typer.echo(f"  no known shape fits this line (tried: {tried}; source format {res.get('source_format')}); "
                           "its conditions see the whole line as message")
            typer.echo("  fields:")
            for k, v in res["fields"].items():
                if k != "raw":
                    typer.echo(f"    {k} = {v!r}" + ("   (extracted by rule)" if k in res.get("extracted", ()) else ""))
            typer.echo("  conditions:")
            for c in res["conditions"]:
                mods = f" [{', '.join(c['modifiers'])}]" if c["modifiers"] else ""
                mark = "held" if c["held"] else "FAILED"
                typer.echo(f"    {mark:6} {c['field']} {c['operator']} {c['value']!r}{mods} (line {c['line']}, "
                           f"{c['prefilter']}): {c['why']}")
            if res.get("threshold"):
                t = res["threshold"]
                typer.echo(f"  threshold: {t['count']} within {t['timeframe_secs']:g}s per {t['group']}")
    raise typer.Exit(0 if all(r["matched"] for r in results) else 1)


@app.command("import-sigma")
def import_sigma(
    path: Path = typer.Argument(..., help="Sigma rule file or directory"),
    out: Optional[Path] = typer.Option(None, "--out", help="write converted rules here (default: print YAML)"),
    json_out: bool = typer.Option(False, "--json", help="report as JSON lines"),
):
    """Convert Sigma rules that map onto our operators into Ironpost YAML; report each one that does not, and why.

    Example: ironpost cli rules import-sigma sigma/rules/linux/ --out rules/sigma/
    Exit 0 when every rule converted, 1 when some could not be, 2 when PATH is unreadable.
    """
    from ironpost.log_pipeline.rules.sigma import convert_path

    if not path.exists():
        _err(f"error: no such file or directory: {path}")
        raise typer.Exit(2)
    results = convert_path(path)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for res in results:
        if res.error:
            failed += 1
            if json_out:
                typer.echo(orjson.dumps({"file": res.file, "title": res.title, "converted": False, "reason": res.error}).decode())
            else:
                _err(f"not converted: {res.file}: {res.title or '?'}: {res.error}")
            continue
        if out is not None:
            target = out / f"{res.rule_id}.yaml"
            target.write_text(res.yaml, encoding="utf-8")
        if json_out:
            typer.echo(orjson.dumps({"file": res.file, "id": res.rule_id, "converted": True,
                                     "written": str(out / f"{res.rule_id}.yaml") if out else None}).decode())
        elif out is None:
            typer.echo("---")
            typer.echo(res.yaml.rstrip())
    if not json_out:
        _err(f"{len(results) - failed} converted, {failed} not converted")
    raise typer.Exit(1 if failed else 0)
