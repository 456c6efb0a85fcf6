"""Load YAML rule files and report every problem with its file and line.

The YAML is composed into nodes first, so each value keeps the line it came from (yaml marks).
`load_rules(path)` returns (rules, problems); `load_rules_strict(path)` raises the first batch of
problems as one RuleError. A file may hold several rules as YAML documents (`---`).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import yaml

from ironpost.core.errors import RuleError
from ironpost.core.events import SEVERITIES
from ironpost.log_pipeline.rules.model import (
    INPUTS,
    MAX_PATTERN,
    MODIFIERS,
    OPERATORS,
    Condition,
    SESSION_KEYS,
    Rule,
    Session,
    Threshold,
    hs_regex,
)

_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
RULE_KEYS = {"id", "title", "description", "severity", "detection", "threshold", "tags", "extract", "input",
             "rate_limit", "author", "references", "status", "logsource", "falsepositives", "sigma_id",
             "service", "session"}
COND_KEYS = {"field", "operator", "value", "modifier", "modifiers"}
THRESHOLD_KEYS = {"count", "timeframe_secs", "group_by", "distinct", "dedup_secs"}


class Node:
    """A YAML value with the line it starts on (1-based)."""

    __slots__ = ("value", "line")

    def __init__(self, value: Any, line: int):
        self.value = value
        self.line = line


def _plain(node: yaml.Node, ctor: yaml.constructor.SafeConstructor) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k, v in node.value:
            key = ctor.construct_object(k, deep=True)
            out[str(key)] = _plain(v, ctor)
        return Node(out, line)
    if isinstance(node, yaml.SequenceNode):
        return Node([_plain(v, ctor) for v in node.value], line)
    return Node(ctor.construct_object(node, deep=True), line)


def unwrap(n: Node) -> Any:
    v = n.value
    if isinstance(v, dict):
        return {k: unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    return v


class _Checker:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[RuleError] = []
        self.rule_id: str | None = None

    def err(self, line: int | None, msg: str) -> None:
        self.problems.append(RuleError(msg, self.file, line, self.rule_id))

    def keys(self, node: Node, allowed: set, what: str) -> None:
        for k, v in node.value.items():
            if k not in allowed:
                self.err(v.line, f"unknown key {k!r} in {what} (allowed: {', '.join(sorted(allowed))})")

    def rule(self, doc: Node) -> Rule | None:
        if not isinstance(doc.value, dict):
            self.err(doc.line, "a rule must be a mapping with id, title, severity, detection")
            return None
        d = doc.value
        start = len(self.problems)
        rid = d.get("id")
        if rid is None or not isinstance(rid.value, str) or not _ID.match(rid.value):
            self.err(rid.line if rid else doc.line, "id is required: letters, digits, '_', '.', '-' (max 128)")
        else:
            self.rule_id = rid.value
        self.keys(doc, RULE_KEYS, "rule")
        title = d.get("title")
        if title is None or not isinstance(title.value, str) or not title.value.strip():
            self.err(title.line if title else doc.line, "title is required (text)")
        sev = d.get("severity")
        if sev is None or sev.value not in SEVERITIES:
            self.err(sev.line if sev else doc.line, f"severity must be one of {', '.join(SEVERITIES)}")
        desc = d.get("description")
        if desc is not None and not isinstance(desc.value, str):
            self.err(desc.line, "description must be text")
        inp = d.get("input")
        if inp is not None and inp.value not in INPUTS:
            self.err(inp.line, f"input must be one of {', '.join(INPUTS)}")
        conds = self.detection(d.get("detection"), doc.line)
        threshold = self.threshold(self.threshold_node(d))
        tags = d.get("tags")
        if tags is not None and not (isinstance(tags.value, list) and all(isinstance(t.value, str) for t in tags.value)):
            self.err(tags.line, "tags must be a list of text")
        extract = self.extract(d.get("extract"))
        rl = d.get("rate_limit")
        if rl is not None and not (isinstance(rl.value, int) and not isinstance(rl.value, bool) and rl.value >= 1):
            self.err(rl.line, "rate_limit must be a whole number of alerts per minute, at least 1")
        svc = d.get("service")
        if svc is not None and not (isinstance(svc.value, str) and _ID.match(svc.value)):
            self.err(svc.line, "service must be a name (letters, digits, '_', '.', '-')")
        session = self.session(d.get("session"))
        if len(self.problems) > start:
            return None
        return Rule(
            id=rid.value,
            title=title.value,
            severity=sev.value,
            description=desc.value if desc else "",
            conditions=conds,
            threshold=threshold,
            tags=[t.value for t in tags.value] if tags else [],
            extract=extract,
            input=inp.value if inp else "logs",
            rate_limit=rl.value if rl else 100,
            file=self.file,
            line=doc.line,
            service=svc.value if svc else None,
            session=session,
        )

    def session(self, n: Node | None) -> Session | None:
        if n is None:
            return None
        if not isinstance(n.value, dict):
            self.err(n.line, "session must be a mapping (key, fill, after, unless, new_user, wait_for_address, silent, ttl_secs)")
            return None
        self.keys(n, SESSION_KEYS, "session")
        d = n.value
        out = Session()
        for name in ("silent", "fill", "new_user", "wait_for_address"):
            v = d.get(name)
            if v is not None:
                if not isinstance(v.value, bool):
                    self.err(v.line, f"session.{name} must be true or false")
                else:
                    setattr(out, name, v.value)
        for name in ("key", "after", "unless"):
            v = d.get(name)
            if v is None:
                continue
            vals = v.value if isinstance(v.value, list) else [v]
            if not vals or not all(isinstance(x.value, str) and x.value for x in vals):
                self.err(v.line, f"session.{name} must be a name or a list of names")
            else:
                setattr(out, name, tuple(x.value for x in vals))
        ttl = d.get("ttl_secs")
        if ttl is not None:
            if isinstance(ttl.value, bool) or not isinstance(ttl.value, (int, float)) or not 0 < ttl.value <= 86400:
                self.err(ttl.line, "session.ttl_secs must be a number of seconds in (0, 86400]")
            else:
                out.ttl_secs = float(ttl.value)
        if out.new_user and not out.after:
            self.err(n.line, "session.new_user compares with the users of the 'after' rules: name them")
        return out

    def threshold_node(self, d: dict) -> Node | None:
        """The threshold: inside detection (the seed's form) or at top level, the same meaning.
        Both at once would leave one silently ignored, so that is an error."""
        top = d.get("threshold")
        det = d.get("detection")
        inner = det.value.get("threshold") if det is not None and isinstance(det.value, dict) else None
        if top is not None and inner is not None:
            self.err(top.line, f"threshold is given twice (here and in detection at line {inner.line}); keep one")
            return None
        return inner if inner is not None else top

    def detection(self, det: Node | None, line: int) -> list:
        if det is None or not isinstance(det.value, dict):
            self.err(det.line if det else line, "detection must be a mapping with a 'conditions' list")
            return []
        self.keys(det, {"conditions", "threshold"}, "detection")
        cl = det.value.get("conditions")
        if cl is None or not isinstance(cl.value, list) or not cl.value:
            self.err(cl.line if cl else det.line, "detection.conditions must be a non-empty list")
            return []
        out = []
        for c in cl.value:
            cond = self.condition(c)
            if cond is not None:
                out.append(cond)
        return out

    def condition(self, c: Node) -> Condition | None:
        if not isinstance(c.value, dict):
            self.err(c.line, "a condition must be a mapping: {field, operator, value, modifier}")
            return None
        start = len(self.problems)
        self.keys(c, COND_KEYS, "condition")
        d = c.value
        f = d.get("field")
        if f is None or not isinstance(f.value, str) or not f.value:
            self.err(f.line if f else c.line, "condition needs a field name")
        op = d.get("operator")
        if op is None or op.value not in OPERATORS:
            self.err(op.line if op else c.line, f"operator must be one of {', '.join(OPERATORS)}")
            return None
        mods: list = []
        for key in ("modifier", "modifiers"):
            m = d.get(key)
            if m is None:
                continue
            vals = m.value if isinstance(m.value, list) else [m]
            for mv in vals:
                if mv.value not in MODIFIERS:
                    self.err(mv.line, f"modifier must be one of {', '.join(MODIFIERS)}, got {mv.value!r}")
                else:
                    mods.append(mv.value)
        v = d.get("value")
        value = unwrap(v) if v is not None else None
        o = op.value
        vline = v.line if v else c.line
        if o != "exists" and v is None:
            self.err(c.line, f"operator {o!r} needs a value")
        elif o == "regex":
            if not isinstance(value, str):
                self.err(vline, "regex value must be text")
            elif len(value) > MAX_PATTERN:
                self.err(vline, f"regex is {len(value)} characters; the limit is {MAX_PATTERN}")
            else:
                try:
                    re.compile(value)
                    re.compile(hs_regex(value))  # what the matcher and `rules explain` really run
                except re.error as exc:
                    self.err(vline, f"invalid regex: {exc}")
                except ValueError as exc:
                    self.err(vline, f"regex not supported: {exc}")
        elif o == "in":
            if not isinstance(value, list) or not value or not all(isinstance(x, (str, int, float)) for x in value):
                self.err(vline, "'in' needs a non-empty list of values")
        elif o == "cidr":
            vals = value if isinstance(value, list) else [value]
            for x in vals:
                try:
                    ipaddress.ip_network(str(x), strict=False)
                except ValueError:
                    self.err(vline, f"not a network: {x!r} (expected e.g. 10.0.0.0/8)")
        elif o in ("gt", "lt"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.err(vline, f"{o} needs a number")
        elif o == "exists":
            if v is not None and not isinstance(value, bool):
                self.err(vline, "exists takes true or false (or no value)")
        elif isinstance(value, (list, dict)) or value is None:
            self.err(vline, f"{o} needs a single value")
        elif isinstance(value, str) and len(value) > MAX_PATTERN:
            self.err(vline, f"value is {len(value)} characters; the limit is {MAX_PATTERN}")
        if len(self.problems) > start:
            return None
        return Condition(field=f.value, operator=o, value=value, modifiers=frozenset(mods), line=c.line)

    def threshold(self, t: Node | None) -> Threshold | None:
        if t is None:
            return None
        if not isinstance(t.value, dict):
            self.err(t.line, "threshold must be a mapping: {count, timeframe_secs, group_by}")
            return None
        self.keys(t, THRESHOLD_KEYS, "threshold")
        d = t.value
        start = len(self.problems)
        cnt = d.get("count")
        if cnt is None or isinstance(cnt.value, bool) or not isinstance(cnt.value, int) or cnt.value < 1:
            self.err(cnt.line if cnt else t.line, "threshold.count must be a whole number >= 1")
        tf = d.get("timeframe_secs")
        if tf is None or isinstance(tf.value, bool) or not isinstance(tf.value, (int, float)) or tf.value <= 0:
            self.err(tf.line if tf else t.line, "threshold.timeframe_secs must be a number > 0")
        gb = d.get("group_by")
        group: tuple = ()
        if gb is not None:
            vals = gb.value if isinstance(gb.value, list) else [gb]
            if not all(isinstance(x.value, str) and x.value for x in vals):
                self.err(gb.line, "threshold.group_by must be a field name or a list of field names")
            else:
                group = tuple(x.value for x in vals)
        dist = d.get("distinct")
        if dist is not None and not (isinstance(dist.value, str) and dist.value):
            self.err(dist.line, "threshold.distinct must be a field name")
        dd = d.get("dedup_secs")
        if dd is not None and (isinstance(dd.value, bool) or not isinstance(dd.value, (int, float)) or dd.value < 0):
            self.err(dd.line, "threshold.dedup_secs must be a number >= 0")
        if len(self.problems) > start:
            return None
        return Threshold(
            count=cnt.value,
            timeframe_secs=float(tf.value),
            group_by=group,
            distinct=dist.value if dist else None,
            dedup_secs=float(dd.value) if dd else None,
        )

    def extract(self, e: Node | None) -> list:
        if e is None:
            return []
        if not isinstance(e.value, list):
            self.err(e.line, "extract must be a list of regexes with named groups (or {field, regex})")
            return []
        out = []
        for item in e.value:
            if isinstance(item.value, str):
                fname, pat, line = "message", item.value, item.line
            elif isinstance(item.value, dict) and isinstance(item.value.get("regex", Node(None, 0)).value, str):
                fname = item.value["field"].value if "field" in item.value else "message"
                pat, line = item.value["regex"].value, item.value["regex"].line
            else:
                self.err(item.line, "extract entries are regex text or {field, regex}")
                continue
            if len(pat) > MAX_PATTERN:
                self.err(line, f"regex is {len(pat)} characters; the limit is {MAX_PATTERN}")
                continue
            try:
                rx = re.compile(pat)
            except re.error as exc:
                self.err(line, f"invalid extract regex: {exc}")
                continue
            if not rx.groupindex:
                self.err(line, "extract regex needs at least one named group (?P<name>...)")
                continue
            out.append((fname, rx))
        return out


def rule_files(path: str | Path) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        return sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.is_file())
    return [p]


def load_rules(path: str | Path) -> tuple[list[Rule], list[RuleError]]:
    """Every rule under path (file or directory), and every problem found (file, line, rule id)."""
    rules: list[Rule] = []
    problems: list[RuleError] = []
    seen: dict[str, Rule] = {}
    files = rule_files(path)
    if not files or not all(f.exists() for f in files):
        return [], [RuleError("no rule files found (expected *.yaml)" if files else "no such file or directory", str(path))]
    ctor = yaml.constructor.SafeConstructor()
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
            docs = [d for d in yaml.compose_all(text, Loader=yaml.SafeLoader) if d is not None]
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(RuleError(f"cannot read: {exc}", str(f)))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problems.append(RuleError(f"invalid YAML: {getattr(exc, 'problem', exc)}", str(f), mark.line + 1 if mark else None))
            continue
        for doc in docs:
            chk = _Checker(str(f))
            try:
                rule = chk.rule(_plain(doc, ctor))
            except yaml.YAMLError as exc:
                problems.append(RuleError(f"invalid YAML value: {exc}", str(f), doc.start_mark.line + 1))
                continue
            problems.extend(chk.problems)
            if rule is None:
                continue
            if rule.id in seen:
                other = seen[rule.id]
                problems.append(RuleError(f"duplicate rule id (first defined in {other.file}:{other.line})",
                                          rule.file, rule.line, rule.id))
                continue
            seen[rule.id] = rule
            rules.append(rule)
    return rules, problems


def load_rules_strict(path: str | Path) -> list[Rule]:
    rules, problems = load_rules(path)
    if problems:
        first = problems[0]
        msg = "; ".join(str(p) for p in problems)
        err = RuleError(msg)
        err.file, err.line, err.rule_id = first.file, first.line, first.rule_id
        err.problems = problems
        raise err
    return rules
