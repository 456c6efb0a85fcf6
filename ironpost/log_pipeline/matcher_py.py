"""Pure-Python twin of ext/matcher.pyx: the same candidates, found with `re` line by line.

Matcher(patterns, n_rules, always=()) with patterns = [(expression bytes, caseless, field_id,
rule_index)]. scan(buf, year, ref_month, max_line, json_max_depth) -> ([(record, rules)], stats):
a line is a candidate for a rule when every pattern of that rule matched its field (search,
byte semantics), or when the rule is in `always` (it has no pattern at all).

As in the compiled matcher: stats count "scan_errors" and "lines_unscanned" (a line with a
failed scan is never a candidate nor clean; `re` does not fail, so only _inject_scan_errors,
the tests' fault injection, makes them non-zero), and a second concurrent scan() raises.
"""

from __future__ import annotations

import re

from ironpost.core.errors import LogPipelineError
from ironpost.log_pipeline.parsers import logparse_py as lp


# constructs Hyperscan rejects; the twin rejects them too, so rules behave the same without the ext
_UNSUPPORTED = [
    (re.compile(rb"(?<!\\)(?:\\\\)*\\[1-9]|\(\?P=\w+\)|\\k<\w+>"), "Back-references are unsupported."),
    (re.compile(rb"\(\?<?[=!]"), "Zero-width assertions are not supported."),
    (re.compile(rb"\(\?>"), "Atomic groups are unsupported."),
    (re.compile(rb"\(\?\("), "Conditional references are not supported."),
    (re.compile(rb"(?<!\\)[*+?}]\+"), "Possessive quantifiers are not supported."),
]


class Matcher:
    def __init__(self, patterns: list, n_rules: int, always=()):
        self.patterns = tuple(patterns)
        self.n_rules = n_rules
        self.always = tuple(sorted(set(always)))
        self._need = [0] * n_rules
        self._busy = False
        self._inject_code, self._inject_left = 0, 0
        self.scan_errors = 0
        self.lines_unscanned = 0
        self.last_scan_error = 0
        self._compiled = []
        self._missing: dict[str, list] = {}  # or_missing patterns: they hold when the line has no such field
        for i, pattern in enumerate(patterns):
            expr, caseless, field, rule = pattern[:4]
            if len(pattern) > 4 and pattern[4]:
                self._missing.setdefault(lp.FIELD_NAMES[field], []).append(rule)
            if not 0 <= field < len(lp.FIELD_NAMES) or not 0 <= rule < n_rules:
                raise ValueError(i, f"field {field} or rule {rule} out of range")
            if b"\0" in expr:
                raise ValueError(i, "pattern contains a NUL byte")
            for bad, why in _UNSUPPORTED:
                if bad.search(expr):
                    raise ValueError(i, why)
            try:
                rx = re.compile(expr, re.IGNORECASE if caseless else 0)
            except re.error as exc:
                raise ValueError(i, str(exc)) from exc
            self._need[rule] += 1
            self._compiled.append((rx, lp.FIELD_NAMES[field], rule))
        self._by_field: dict[str, list] = {}
        for rx, name, rule in self._compiled:
            self._by_field.setdefault(name, []).append((rx, rule))
        self._order = sorted(self._by_field, key=lambda n: (n != "message", lp.FIELD_NAMES.index(n)))

    def _inject_scan_errors(self, code: int, count: int) -> None:
        """Fault injection for tests: the next `count` field scans fail with `code`."""
        self._inject_code, self._inject_left = code, count

    def _rules_for(self, get, absent) -> tuple | None:
        """The rules this line is a candidate for; None when a scan of it failed.
        get(name): the bytes a pattern sees, or None; absent(name): the record has no such field."""
        cnt = [0] * self.n_rules
        fired = []
        failed = False
        # Field by field as the compiled matcher scans (message first), so an injected
        # failure hits the same scan in both.
        for name in self._order:
            v = get(name)
            if v is None:
                if absent(name):
                    for rule in self._missing.get(name, ()):
                        cnt[rule] += 1
                        if cnt[rule] == self._need[rule]:
                            fired.append(rule)
                continue
            if self._inject_left > 0:
                self._inject_left -= 1
                self.scan_errors += 1
                self.last_scan_error = self._inject_code
                failed = True
                continue
            for rx, rule in self._by_field[name]:
                if rx.search(v):
                    cnt[rule] += 1
                    if cnt[rule] == self._need[rule]:
                        fired.append(rule)
        if failed:
            self.lines_unscanned += 1
            return None
        return tuple(sorted(set(fired) | set(self.always)))

    def scan(self, buf: bytes, year: int, ref_month: int = 0, max_line: int = 65536, json_max_depth: int = 32,
             want: int = -1, now: float = 0.0, mode: int = 0):
        if not 0 <= mode < len(lp.MODE_NAMES):
            raise ValueError(f"mode {mode} is not one of 0..{len(lp.MODE_NAMES) - 1} (MODE_NAMES)")
        if self._busy:
            raise LogPipelineError("a Matcher is not thread-safe: scan() called while another scan runs; "
                                   "give each thread its own Matcher")
        self._busy = True
        errs0, unscanned0 = self.scan_errors, self.lines_unscanned
        try:
            out, stats = self._scan(buf, year, ref_month, max_line, json_max_depth, want, mode)
        finally:
            self._busy = False
        stats["scan_errors"] = self.scan_errors - errs0
        stats["lines_unscanned"] = self.lines_unscanned - unscanned0
        return out, stats

    def _scan(self, buf, year, ref_month, max_line, json_max_depth, want, mode):
        stats = lp.new_stats()
        recs = lp.parse_lines(buf, year, ref_month, max_line, json_max_depth, stats, mode)
        out = []
        for r in recs:
            if r["fmt"] == lp.FMT_JSON:
                d = r["json"]
                rules = self._rules_for(lambda name: lp.scan_value(d.get(name)), lambda name: d.get(name) is None)
            else:
                rules = self._rules_for(r.get, lambda name: r.get(name) is None)
            if rules:
                out.append((lp.record_of(r, want), rules))
        stats["candidates"] = len(out)
        return out, stats


def json_scan_ok(line: bytes, max_depth: int = 32) -> bool:
    """Twin of the compiled scanner probe: the twin has no scanner, orjson decodes every JSON line."""
    return False
