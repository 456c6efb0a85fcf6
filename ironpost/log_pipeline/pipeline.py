"""The log pipeline engine: a batch of lines (or one packet event) in, AlertEvents out.

process(buf, source): the matcher parses and scans the whole batch in C and returns only the
candidate lines with their fields; Python then applies `extract:` patterns and the conditions
Hyperscan cannot check, and hands each match to the threshold engine.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import time
from collections import Counter
from typing import Any, Callable

from ironpost.core.events import AlertEvent, PacketEvent
from ironpost.core.window import WindowState
from ironpost.log_pipeline.buckets import MemoryState, ThresholdEngine
from ironpost.log_pipeline.buckets.sessions import AHEAD as SESSION_AHEAD
from ironpost.log_pipeline.buckets.sessions import SessionTable
from ironpost.log_pipeline.parsers import parse
from ironpost.log_pipeline.parsers.logparse_py import FMT_NAMES, MODE_NAMES, shapes_tried, want_mask
from ironpost.log_pipeline.rules.compile import compile_rules
from ironpost.log_pipeline.rules.model import TEXT_FIELD_IDS, Rule

log = logging.getLogger("ironpost.log_pipeline")

MatchHook = Callable[[Rule, dict, str], None]
SUPPRESSED_MAX = 100_000  # rate-limited alerts held between two take_suppressed() calls
# what an alert carries from the line, besides the fields its rule looks at
ALERT_FIELDS = ("timestamp", "message", "host", "process", "src_ip", "user", "rhost")
_DETAIL_FIELDS = ("message", "host", "process", "user", "rhost", "src_host", "dst_port", "dst_ip")


# fields the compiled matcher can group by: the parsed text fields, and src_host (a DNS name an
# extract pattern found; such lines are handed to Python, which counts them in the same state)
_GROUP_FIELD_IDS = {**TEXT_FIELD_IDS, "src_host": len(TEXT_FIELD_IDS)}


def _c_extractable(rule: Rule, matcher) -> bool:
    """Whether the compiled matcher can apply this rule's extract patterns itself."""
    return (hasattr(matcher, "set_extract") and rule.extract_names <= {"src_ip", "user"}
            and all(f in TEXT_FIELD_IDS for f, _ in rule.extract))


def _c_session(rule: Rule, matcher) -> bool:
    """No session, or one that only remembers (the compiled matcher reports it back)."""
    s = rule.session
    if s is None:
        return True
    return (hasattr(matcher, "set_session") and not (s.fill or s.after or s.unless or s.new_user or s.wait_for_address
                                                     or s.silent)
            and 0 < len(s.key) <= 4 and all(k == "pid" or k in TEXT_FIELD_IDS for k in s.key))


def needed_fields(rules: list[Rule], py_conditions: list) -> list[str] | None:
    """The parsed fields candidates must carry for these rules (None: all of them)."""
    names = set(ALERT_FIELDS)
    for rule, conds in zip(rules, py_conditions):
        names.update(c.field for c in conds)
        names.update(f for f, _ in rule.extract)
        if rule.session is not None:
            names.update(rule.session.key)
        if rule.threshold is not None:
            names.update(rule.threshold.group_by)
            if rule.threshold.distinct:
                names.add(rule.threshold.distinct)
    return sorted(names)


# Alert ids (same form as events.new_id: 128 random bits in hex) drawn from one urandom call per
# 256: a replay firing 15k alerts otherwise spent 30k getrandom syscalls on them.
_ID_POOL: list[str] = []
os.register_at_fork(after_in_child=_ID_POOL.clear)  # a forked child must not reuse the parent's ids


def _pooled_id() -> str:
    if not _ID_POOL:
        raw = os.urandom(16 * 256).hex()
        _ID_POOL.extend([raw[i:i + 32] for i in range(0, len(raw), 32)])
    return _ID_POOL.pop()


class SourceFormats:
    """`[log_pipeline] formats`: the parse mode (MODE_NAMES index) of a source. A key names a
    source exactly (a file path), as a glob, or as its kind: syslog (tcp://, udp:// peers) or
    container (docker:...). Unnamed sources are auto-detected per line."""

    _KINDS = {"syslog": ("tcp://", "udp://"), "container": ("docker:",)}
    _CACHE_MAX = 4096  # syslog peers are many: the cache is cleared rather than grown past this

    def __init__(self, formats: dict[str, str] | None):
        self.rules = [(key, MODE_NAMES.index(fmt)) for key, fmt in (formats or {}).items()]
        self._cache: dict[str, int] = {}

    def mode(self, source: str) -> int:
        if not self.rules:
            return 0
        got = self._cache.get(source)
        if got is None:
            got = self._lookup(source)
            if len(self._cache) >= self._CACHE_MAX:
                self._cache.clear()
            self._cache[source] = got
        return got

    def _lookup(self, source: str) -> int:
        for key, mode in self.rules:
            if key == source:
                return mode
        for key, mode in self.rules:
            prefixes = self._KINDS.get(key)
            if prefixes and source.startswith(prefixes):
                return mode
        for key, mode in self.rules:
            if key not in self._KINDS and fnmatch.fnmatchcase(source, key):
                return mode
        return 0


def current_year_month() -> tuple[int, int]:
    t = time.gmtime()
    return t.tm_year, t.tm_mon


class Pipeline:
    def __init__(self, rules: list[Rule], *, year: int | None = None, state: WindowState | None = None, max_line: int = 65536,
                 json_max_depth: int = 32, matcher_impl=None, max_groups: int = 100_000, fast_thresholds: bool = True,
                 clock: Callable[[], float] = time.time, formats: dict[str, str] | None = None, replay: bool = False):
        """state: a WindowState shared with others (Redis); None keeps it in this process, where
        rules that need nothing but a threshold on built-in fields are counted inside the
        compiled matcher (fast_thresholds; their single matches are then not reported to on_match).
        replay: the input is a finished log read offline (`rules test`), whose own times are the
        timeline; live, the state sweeps follow event time only up to the wall clock + AHEAD."""
        self.rules = list(rules)
        self.compiled = compile_rules(self.rules, matcher_impl)
        self.year = year
        self.clock = clock  # event time for lines that carry none
        self.max_line = max_line
        self.json_max_depth = json_max_depth
        self.formats = SourceFormats(formats)
        self.thresholds = ThresholdEngine(state if state is not None else MemoryState(max_keys=max_groups))
        self.agg_rules: set[int] = set()
        self._ahead = math.inf if replay else SESSION_AHEAD
        local = getattr(self.thresholds.state, "local", self.thresholds.state)  # MirroredState keeps one
        self._local_state = local if isinstance(local, MemoryState) else None  # its sweep takes the horizon
        self.sessions = SessionTable(max_sessions=max_groups, ttl_max=max(
            (r.session.ttl_secs for r in self.compiled.log_rules if r.session is not None), default=600.0))
        m = self.compiled.matcher
        if state is None and fast_thresholds and hasattr(m, "aggregate"):
            for ri, rule in enumerate(self.compiled.log_rules):
                t = rule.threshold
                if (t is None or (t.distinct and t.distinct not in TEXT_FIELD_IDS) or not _c_session(rule, m) or self.compiled.py_conditions[ri]
                        or ri in self.compiled.always or not all(f in _GROUP_FIELD_IDS for f in t.group_by)
                        or (rule.extract and not _c_extractable(rule, m))):
                    continue
                m.aggregate(ri, t.count, t.timeframe_secs, t.dedup_secs if t.dedup_secs is not None else t.timeframe_secs,
                            tuple(_GROUP_FIELD_IDS[f] for f in t.group_by), max_groups,
                            TEXT_FIELD_IDS[t.distinct] if t.distinct else -1)
                if rule.extract:
                    m.set_extract(ri, [(TEXT_FIELD_IDS[f], rx.pattern.encode("utf-8")) for f, rx in rule.extract])
                if rule.session is not None:
                    m.set_session(ri, tuple(-1 if k == "pid" else TEXT_FIELD_IDS[k] for k in rule.session.key),
                                  max_groups, rule.session.ttl_secs)
                    self.sessions.attach(m.session_take, m.session_watch, self.compiled.log_rules.__getitem__)
                self.agg_rules.add(ri)
        if self.agg_rules:
            m.ahead = self._ahead
        self.stats: Counter[str] = Counter()
        self.suppressed: list[AlertEvent] = []
        self.matches: Counter[str] = Counter()
        self.alerts: Counter[str] = Counter()
        self._want = want_mask(needed_fields(self.compiled.log_rules, self.compiled.py_conditions))

    @classmethod
    def from_section(cls, rules: list[Rule], sec: Any, *, state: WindowState | None = None, year: int | None = None,
                     fast_thresholds: bool = True, formats: dict[str, str] | None = None, replay: bool = False) -> "Pipeline":
        """The pipeline as the daemon runs it, with the limits of a [log_pipeline] section.
        The daemon (module.build_pipeline) and `cli rules test|explain` build theirs here;
        formats, when given, replaces the section's (`--format`)."""
        return cls(rules, year=year or sec.year or None, state=state, max_line=sec.max_line_bytes,
                   json_max_depth=sec.json_max_depth, max_groups=sec.max_groups, fast_thresholds=fast_thresholds,
                   formats=sec.formats if formats is None else formats, replay=replay)

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
        now = self.clock()
        self.sessions.horizon = now + self._ahead
        if self._local_state is not None:
            self._local_state.horizon = now + self._ahead
        m = self.compiled.matcher
        cands, stats = m.scan(buf, year, ref_month, self.max_line, self.json_max_depth, want, now,
                              self.formats.mode(source))
        for k, v in stats.items():
            self.stats[k] += v
        if stats.get("scan_errors"):
            # a line Hyperscan could not scan is unknown, not clean: say so loudly
            log.error("hyperscan scan failed; lines counted as unscanned", extra={
                "scan_errors": stats["scan_errors"], "lines_unscanned": stats.get("lines_unscanned", 0),
                "hs_error": getattr(m, "last_scan_error", None), "source": source})
        out: list[AlertEvent] = []
        log_rules = self.compiled.log_rules
        py_conds = self.compiled.py_conditions
        if self.agg_rules:
            for rec, ri, count, first, ts in m.take_fired():
                self._fired_in_c(log_rules[ri], rec, source, ts, count, first, out)
        for line_rec, rule_idx in cands:
            for ri in rule_idx:
                rule = log_rules[ri]
                rec = line_rec
                if rule.extract:
                    rec = dict(line_rec)  # the rule's own fields must not leak into the other rules of the line
                    rule.apply_extract(rec)
                conds = py_conds[ri]
                if conds and not all(c.holds(rec) for c in conds):
                    continue
                ts = rec.get("timestamp")
                if type(ts) is not float:  # a JSON line's own "timestamp" that is no time (as the C thresholds do)
                    ts = now
                if ri in self.agg_rules:  # a line C handed back (JSON, or an address C cannot vouch for): same counters
                    if rule.session is not None:  # remember-only: it may give a waiting session its address
                        self._resolved(self.sessions.observe(rule, rec, ts)[1], source, ts, on_match, out)
                    got = m.agg_record(ri, rec, ts)
                    if got is not None:
                        self._fired_in_c(rule, rec, source, ts, got[0], got[1], out)
                    continue
                if rule.session is not None:
                    rec, resolved = self.sessions.observe(rule, rec, ts)
                    self._resolved(resolved, source, ts, on_match, out)
                    if rec is None:
                        continue
                alert = self._matched(rule, rec, source, ts, None, on_match)
                if alert is not None:
                    out.append(alert)
        if self.agg_rules:
            self._resolved(self.sessions.flush(), source, now, on_match, out)
        return out

    def _resolved(self, resolved: list, source: str, ts: float, on_match, out: list) -> None:
        """Matches a session held until this line gave it an address."""
        for prule, prec in resolved:
            pts = prec.get("timestamp")
            alert = self._matched(prule, prec, source, pts if type(pts) is float else ts, None, on_match)
            if alert is not None:
                out.append(alert)

    def _fired_in_c(self, rule: Rule, rec: dict, source: str, ts: float, count: int, first: float,
                    out: list) -> None:
        group = {f: rec.get(f) for f in rule.threshold.group_by}
        if self.thresholds.rate_ok(rule, ts, group, rec):
            out.append(self._alert(rule, rec, source, ts, None, group, count, first))
        else:
            self._suppress(self._alert(rule, rec, source, ts, None, group, count, first, sent=False))

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
            if d.suppressed:
                self._suppress(self._alert(rule, rec, source, ts, trace_id, d.group, d.count, d.first_seen, sent=False))
            return None
        return self._alert(rule, rec, source, ts, trace_id, d.group, d.count, d.first_seen)

    def _suppress(self, alert: AlertEvent) -> None:
        """Keep a rate-limited alert's ban decision (take_suppressed); only those with a source matter."""
        if alert.src_ip is None:
            return
        if len(self.suppressed) >= SUPPRESSED_MAX:  # nobody takes them: count rather than grow
            self.stats["suppressed_dropped"] += 1
            return
        alert.details["rate_limited"] = True
        self.suppressed.append(alert)
        self.stats["suppressed"] += 1

    def take_suppressed(self) -> list[AlertEvent]:
        """Rate-limited alerts since the last call, for the ban path (bus "alerts.suppressed")."""
        out, self.suppressed = self.suppressed, []
        return out

    def _alert(self, rule: Rule, rec: dict, source: str, ts: float, trace_id: str | None, group: dict, count: int,
               first_seen: float, sent: bool = True) -> AlertEvent:
        if sent:
            self.alerts[rule.id] += 1
        src = group.get("src_ip") or rec.get("src_ip")
        details = {"source": source}
        if rule.service:
            details["service"] = rule.service
        for k in _DETAIL_FIELDS:
            v = rec.get(k)
            if v is not None:
                details[k] = v
        return AlertEvent(
            rule_id=rule.id,
            title=rule.title,
            severity=rule.severity,
            description=rule.description,
            group=group,
            count=count,
            first_seen=first_seen,
            last_seen=float(ts),
            src_ip=str(src) if src is not None else None,
            tags=list(rule.tags),
            details=details,
            id=_pooled_id(),
            trace_id=trace_id or _pooled_id(),  # a log line's trace starts at its alert
        )

    def metrics(self) -> dict[str, float]:
        m: dict[str, float] = {}
        s = self.stats
        m["lp_lines_total"] = float(s["lines"])
        m["lp_lines_cut_total"] = float(s["cut"])
        m["lp_json_errors_total"] = float(s["json_errors"])
        m["lp_json_depth_errors_total"] = float(s["json_depth_errors"])
        m["lp_candidates_total"] = float(s["candidates"])
        m["lp_scan_errors_total"] = float(s["scan_errors"])
        m["lp_rate_limited_ban_decisions_total"] = float(s["suppressed"])
        m["lp_rate_limited_ban_decisions_dropped_total"] = float(s["suppressed_dropped"])
        m["lp_lines_unscanned_total"] = float(s["lines_unscanned"])
        m["lp_packets_total"] = float(s["packets"])
        for fmt in FMT_NAMES:
            m[f'lp_lines_format_total{{format="{fmt}"}}'] = float(s[fmt])
        m["lp_rules_loaded"] = float(len(self.rules))
        matches = sum(self.matches.values())
        if self.agg_rules:
            am = self.compiled.matcher.agg_metrics()
            matches += sum(am["matches"].values())
            m["lp_fast_groups"] = float(am["groups"])
            m["lp_fast_bytes"] = float(am["bytes"])  # event times, keys and the table of the C groups
            m["lp_fast_evictions_total"] = float(am["evictions"])
            # groups, session matches and distinct marks idle past their window + an hour
            m["lp_fast_expired_total"] = float(am["expired"])
            m["lp_fast_sessions"] = float(am["sessions"])
            m["lp_fast_deduped_total"] = float(sum(am["deduped"].values()))
        m["lp_matches_total"] = float(matches)
        m["lp_alerts_total"] = float(sum(self.alerts.values()))
        for rid, n in self.alerts.items():
            m[f'lp_alerts_total{{rule="{rid}"}}'] = float(n)
        m.update(self.thresholds.metrics())
        m.update(self.sessions.metrics())
        return m

    def explain(self, rule: Rule, line: str | bytes, source: str = "") -> dict:
        """For one line: the fields parsed (and the shapes tried) and, for each condition of the
        rule, whether it held and why."""
        raw = line.encode("utf-8") if isinstance(line, str) else line
        raw = raw.split(b"\n", 1)[0]
        year, ref_month = self._year()
        mode = self.formats.mode(source)
        parsed = parse(raw + b"\n", year, ref_month, self.max_line, self.json_max_depth, mode)
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
            pat = c.hs_pattern() if rule.input == "logs" else None
            if pat is not None:
                # The daemon's answer is the matcher's, on the raw bytes (a field's text has
                # invalid UTF-8 replaced), so explain asks the same matcher.
                one = type(self.compiled.matcher)([(pat, c.caseless, TEXT_FIELD_IDS[c.field], 0)], 1)
                scanned = bool(one.scan(raw + b"\n", year, ref_month, self.max_line, self.json_max_depth, -1, 0.0,
                                        mode)[0])
                if scanned != held:
                    held, why = scanned, f"{why}; but the line's raw bytes {'match' if scanned else 'do not match'}"
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
            "source_format": MODE_NAMES[mode],
            "shapes_tried": shapes_tried(raw, mode),
            "fields": rec,
            "extracted": sorted(set(rec) - before),
            "conditions": conds,
            "matched": matched,
            "threshold": None if t is None else {
                "count": t.count, "timeframe_secs": t.timeframe_secs, "group_by": list(t.group_by),
                "group": {f: rec.get(f) for f in t.group_by},
            },
        }
