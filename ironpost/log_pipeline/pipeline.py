"""The log pipeline engine: a batch of lines (or one packet event) in, AlertEvents out.

process(buf, source): the matcher parses and scans the whole batch in C and returns only the
candidate lines with their fields; Python then applies `extract:` patterns and the conditions
Hyperscan cannot check, and hands each match to the threshold engine.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

from ironpost.core.events import AlertEvent, PacketEvent, new_id
from ironpost.log_pipeline.buckets import ThresholdEngine
from ironpost.log_pipeline.parsers import parse
from ironpost.log_pipeline.parsers.logparse_py import want_mask
from ironpost.log_pipeline.rules.compile import compile_rules
from ironpost.log_pipeline.rules.model import Rule

MatchHook = Callable[[Rule, dict, str], None]
# what an alert carries from the line, besides the fields its rule looks at
ALERT_FIELDS = ("timestamp", "message", "host", "process", "src_ip", "user", "rhost")


def needed_fields(rules: list[Rule], py_conditions: list) -> list[str] | None:
    """The parsed fields candidates must carry for these rules (None: all of them)."""
    names = set(ALERT_FIELDS)
    for rule, conds in zip(rules, py_conditions):
        names.update(c.field for c in conds)
        names.update(f for f, _ in rule.extract)
        if rule.threshold is not None:
            names.update(rule.threshold.group_by)
            if rule.threshold.distinct:
                names.add(rule.threshold.distinct)
    return sorted(names)


def current_year_month() -> tuple[int, int]:
    t = time.gmtime()
    return t.tm_year, t.tm_mon


class Pipeline:
    def __init__(self, rules: list[Rule], *, year: int | None = None, state: Any = None, max_line: int = 65536,
                 json_max_depth: int = 32, matcher_impl=None):
        self.rules = list(rules)
        self.compiled = compile_rules(self.rules, matcher_impl)
        self.year = year
        self.max_line = max_line
        self.json_max_depth = json_max_depth
        self.thresholds = ThresholdEngine(state)
        self.stats: Counter[str] = Counter()
        self.matches: Counter[str] = Counter()
        self.alerts: Counter[str] = Counter()
        self._want = want_mask(needed_fields(self.compiled.log_rules, self.compiled.py_conditions))

    @property
    def state(self):
        return self.thresholds.state

    def _year(self) -> tuple[int, int]:
        if self.year is not None:
            return self.year, 0
        return current_year_month()

    def process(self, buf: bytes, source: str = "", on_match: MatchHook | None = None) -> list[AlertEvent]:
        """Parse and match a buffer of whole lines; return the alerts that fired."""
        if not buf:
            return []
        year, ref_month = self._year()
        want = -1 if on_match is not None else self._want
        cands, stats = self.compiled.matcher.scan(buf, year, ref_month, self.max_line, self.json_max_depth, want)
        for k, v in stats.items():
            self.stats[k] += v
        out: list[AlertEvent] = []
        log_rules = self.compiled.log_rules
        py_conds = self.compiled.py_conditions
        now = time.time()
        for rec, rule_idx in cands:
            for ri in rule_idx:
                rule = log_rules[ri]
                if rule.extract:
                    rule.apply_extract(rec)
                conds = py_conds[ri]
                if conds and not all(c.holds(rec) for c in conds):
                    continue
                alert = self._matched(rule, rec, source, rec.get("timestamp", now), None, on_match)
                if alert is not None:
                    out.append(alert)
        return out

    def process_packet(self, ev: PacketEvent, on_match: MatchHook | None = None) -> list[AlertEvent]:
        rec = {
            "src_ip": ev.src_ip,
            "dst_ip": ev.dst_ip,
            "src_port": ev.src_port,
            "dst_port": ev.dst_port,
            "protocol": ev.protocol,
            "tcp_flags": ev.tcp_flags,
            "length": ev.length,
            "action": ev.action,
            "timestamp": ev.timestamp,
        }
        self.stats["packets"] += 1
        out = []
        for rule in self.compiled.packet_rules:
            if all(c.holds(rec) for c in rule.conditions):
                alert = self._matched(rule, rec, "packets", ev.timestamp, ev.trace_id, on_match)
                if alert is not None:
                    out.append(alert)
        return out

    def _matched(self, rule: Rule, rec: dict, source: str, ts: float, trace_id: str | None,
                 on_match: MatchHook | None) -> AlertEvent | None:
        self.matches[rule.id] += 1
        if on_match is not None:
            on_match(rule, rec, source)
        d = self.thresholds.decide(rule, rec, float(ts))
        if not d.fire:
            return None
        self.alerts[rule.id] += 1
        src = d.group.get("src_ip") or rec.get("src_ip")
        details = {"source": source}
        for k in ("message", "host", "process", "user", "rhost", "dst_port", "dst_ip"):
            if rec.get(k) is not None:
                details[k] = rec[k]
        return AlertEvent(
            rule_id=rule.id,
            title=rule.title,
            severity=rule.severity,
            description=rule.description,
            group=d.group,
            count=d.count,
            first_seen=d.first_seen,
            last_seen=float(ts),
            src_ip=str(src) if src is not None else None,
            tags=list(rule.tags),
            details=details,
            trace_id=trace_id or new_id(),  # a log line's trace starts at its alert
        )

    def metrics(self) -> dict[str, float]:
        m: dict[str, float] = {}
        s = self.stats
        m["lp_lines_total"] = float(s["lines"])
        m["lp_lines_cut_total"] = float(s["cut"])
        m["lp_json_errors_total"] = float(s["json_errors"])
        m["lp_json_depth_errors_total"] = float(s["json_depth_errors"])
        m["lp_candidates_total"] = float(s["candidates"])
        m["lp_packets_total"] = float(s["packets"])
        for fmt in ("raw", "rfc3164", "rfc5424", "json"):
            m[f'lp_lines_format_total{{format="{fmt}"}}'] = float(s[fmt])
        m["lp_rules_loaded"] = float(len(self.rules))
        m["lp_matches_total"] = float(sum(self.matches.values()))
        m["lp_alerts_total"] = float(sum(self.alerts.values()))
        for rid, n in self.alerts.items():
            m[f'lp_alerts_total{{rule="{rid}"}}'] = float(n)
        m.update(self.thresholds.metrics())
        return m

    def explain(self, rule: Rule, line: str | bytes) -> dict:
        """For one line: the fields parsed and, for each condition of the rule, whether it held and why."""
        raw = line.encode("utf-8") if isinstance(line, str) else line
        raw = raw.split(b"\n", 1)[0]
        year, ref_month = self._year()
        parsed = parse(raw + b"\n", year, ref_month, self.max_line, self.json_max_depth)
        if not len(parsed):
            return {"rule": rule.id, "fields": {}, "conditions": [], "matched": False, "reason": "empty line"}
        rec = parsed.record(0)
        if rule.input == "packets":
            rec = dict(rec)
        before = set(rec)
        rule.apply_extract(rec)
        conds = []
        for c in rule.conditions:
            held, why = c.evaluate(rec)
            conds.append({
                "field": c.field,
                "operator": c.operator,
                "value": c.value,
                "modifiers": sorted(c.modifiers),
                "line": c.line,
                "held": held,
                "why": why,
                "prefilter": "hyperscan" if (c.hs_pattern() is not None and rule.input == "logs") else "python",
            })
        matched = all(c["held"] for c in conds)
        t = rule.threshold
        return {
            "rule": rule.id,
            "input": rule.input,
            "format": rec.get("format"),
            "fields": rec,
            "extracted": sorted(set(rec) - before),
            "conditions": conds,
            "matched": matched,
            "threshold": None if t is None else {
                "count": t.count, "timeframe_secs": t.timeframe_secs, "group_by": list(t.group_by),
                "group": {f: rec.get(f) for f in t.group_by},
            },
        }
