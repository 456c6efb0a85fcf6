"""Sigma rules -> Ironpost rules, for the part of Sigma that maps onto our operators.

Our rules are an AND of conditions. A Sigma condition is rewritten into OR-of-ANDs over single
field tests (each of which may negate, and may hold a list of values that are ORed); every
AND branch becomes one Ironpost rule (ids suffixed _1, _2, ...). Supported: field modifiers
contains, startswith, endswith, re, cidr, gt, lt, all, exists; wildcards * and ?; keyword
lists; `and`, `or`, `not`, parentheses, `1 of`/`all of` a pattern or `them`. Sigma compares
strings case-insensitively, so converted string tests carry case_insensitive.
Not converted (reported with the reason): aggregations (`| count() ...`), correlation rules,
unknown modifiers (base64, windash, gte, ...), and more than MAX_BRANCHES OR branches.

pySigma is not used: its backends render query strings for a target language, while we need
a structured AND-list; its rule parser would save only the YAML walk that this module does in
a few lines, at the price of a dependency (and its plugins) inside the frozen binary.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ironpost.log_pipeline.rules.loader import load_rules

MAX_BRANCHES = 8
LEVELS = {"informational": "info", "info": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
FIELD_MAP = {"message": "message", "Message": "message", "User": "user", "user": "user", "SourceIp": "src_ip",
             "src_ip": "src_ip", "ClientIP": "src_ip", "Hostname": "host", "ComputerName": "host", "host": "host"}
KNOWN_MODS = {"contains", "startswith", "endswith", "re", "cidr", "gt", "lt", "all", "exists", "i"}


class Unsupported(Exception):
    pass


@dataclass
class Result:
    file: str
    title: str | None
    rule_id: str | None = None
    yaml: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Atom:
    """One field test: field OP any-of(values); negate flips it."""

    field: str
    operator: str
    value: Any
    caseless: bool
    negate: bool = False

    def neg(self) -> "Atom":
        return Atom(self.field, self.operator, self.value, self.caseless, not self.negate)

    def to_yaml(self) -> dict:
        d: dict = {"field": self.field, "operator": self.operator}
        if self.operator != "exists":
            d["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        elif self.value is False:
            d["value"] = False
        mods = (["case_insensitive"] if self.caseless else []) + (["not"] if self.negate else [])
        if mods:
            d["modifier"] = mods if len(mods) > 1 else mods[0]
        return d


def _wild_to_regex(v: str) -> str:
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v) and v[i + 1] in "*?\\":
            out.append(re.escape(v[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return "^" + "".join(out) + "$"


def _plain(v: str) -> tuple[str, str]:
    """A Sigma plain value with wildcards -> (operator, value)."""
    core = v.strip("*")
    if not re.search(r"(?<!\\)[*?]", v):
        return "equals", v.replace("\\*", "*").replace("\\?", "?")
    if not re.search(r"(?<!\\)[*?]", core):
        lead, trail = v.startswith("*"), v.endswith("*") and not v.endswith("\\*")
        if lead and trail:
            return "contains", core
        if trail:
            return "startswith", core
        if lead:
            return "endswith", core
    return "regex", _wild_to_regex(v)


def _alternation(op: str, values: list[str]) -> str:
    body = "|".join(re.escape(v) for v in values)
    return {"contains": f"(?:{body})", "startswith": f"^(?:{body})", "endswith": f"(?:{body})$",
            "equals": f"^(?:{body})$"}[op]


def _field_atoms(key: str, value: Any) -> list[Atom]:
    name, *mods = key.split("|")
    field = FIELD_MAP.get(name, name)
    for m in mods:
        if m not in KNOWN_MODS:
            raise Unsupported(f"modifier {m!r} on {name} has no equivalent")
    values = value if isinstance(value, list) else [value]
    if not values:
        raise Unsupported(f"{name}: empty list of values")
    if "exists" in mods:
        return [Atom(field, "exists", bool(values[0]), False)]
    if any(v is None for v in values):
        if len(values) == 1:
            return [Atom(field, "exists", False, False)]
        raise Unsupported(f"{name}: null mixed with other values")
    if "cidr" in mods:
        # tuples, not lists: atoms are hashed when the condition's branches are deduplicated
        return [Atom(field, "cidr", tuple(str(v) for v in values) if len(values) > 1 else str(values[0]), False)]
    if "gt" in mods or "lt" in mods:
        if len(values) != 1 or isinstance(values[0], bool) or not isinstance(values[0], (int, float)):
            raise Unsupported(f"{name}: gt/lt need one number")
        return [Atom(field, "gt" if "gt" in mods else "lt", values[0], False)]
    if "re" in mods:
        ci = "i" in mods
        if len(values) == 1 or "all" in mods:
            return [Atom(field, "regex", str(v), ci) for v in values]
        return [Atom(field, "regex", "|".join(f"(?:{v})" for v in values), ci)]
    op = next((m for m in ("contains", "startswith", "endswith") if m in mods), None)
    strs = [str(v) if not isinstance(v, bool) else str(v).lower() for v in values]
    if op is not None:
        if any(re.search(r"(?<!\\)[*?]", s) for s in strs):
            raise Unsupported(f"{name}: wildcards inside |{op} values")
        if "all" in mods or len(strs) == 1:
            return [Atom(field, op, s, True) for s in strs]
        return [Atom(field, "regex", _alternation(op, strs), True)]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) and len(values) == 1:
        return [Atom(field, "equals", values[0], False)]
    plain = [_plain(s) for s in strs]
    if "all" in mods or len(plain) == 1:
        return [Atom(field, op2, v2, True) for op2, v2 in plain]
    if all(op2 == "equals" for op2, _ in plain):
        return [Atom(field, "in", tuple(v2 for _, v2 in plain), True)]
    regexes = [v2 if op2 == "regex" else _alternation(op2, [v2]) for op2, v2 in plain]
    return [Atom(field, "regex", "|".join(f"(?:{r})" for r in regexes), True)]


def _selection_atoms(name: str, sel: Any) -> list[Atom]:
    """A selection as an AND of atoms (keyword lists become one OR-regex on the raw line)."""
    if isinstance(sel, list) and all(isinstance(x, (str, int)) for x in sel):
        kws = [str(x) for x in sel]
        return [Atom("raw", "regex", "|".join(re.escape(k.strip("*")) for k in kws), True)]
    if isinstance(sel, str):
        return [Atom("raw", "contains", sel.strip("*"), True)]
    if isinstance(sel, dict):
        atoms: list[Atom] = []
        for k, v in sel.items():
            atoms.extend(_field_atoms(str(k), v))
        return atoms
    if isinstance(sel, list):
        raise Unsupported(f"selection {name!r} is a list of maps (an OR of selections inside one name)")
    raise Unsupported(f"selection {name!r} has an unsupported shape")


# --- condition expression -> OR of AND of atoms ----------------------------------------------

_WORDS = ("and", "or", "not", "1 of", "all of")
_OPERATORS = frozenset(_WORDS) | {"(", ")"}
_TOKEN = re.compile(r"\s*(\(|\)|" + "".join(rf"\b{w}\b|" for w in _WORDS) + r"[A-Za-z0-9_*]+)")


def _tokens(cond: str) -> list[str]:
    pos, out = 0, []
    cond = cond.strip()
    while pos < len(cond):
        m = _TOKEN.match(cond, pos)
        if not m or m.end() == pos:
            raise Unsupported(f"cannot read condition at {cond[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[str], sels: dict[str, list[Atom]]):
        self.t, self.i, self.sels = tokens, 0, sels

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expr(self):  # or
        left = self.term()
        while self.peek() == "or":
            self.take()
            left = left + self.term()
        return left

    def term(self):  # and
        left = self.factor()
        while self.peek() == "and":
            self.take()
            right = self.factor()
            left = [a + b for a in left for b in right]
            if len(left) > MAX_BRANCHES:
                raise Unsupported(f"more than {MAX_BRANCHES} OR branches")
        return left

    def factor(self):
        tok = self.take()
        if tok == "not":
            return _negate(self.factor())
        if tok == "(":
            inner = self.expr()
            if self.take() != ")":
                raise Unsupported("unbalanced parentheses")
            return inner
        if tok in ("1 of", "all of"):
            pat = self.take()
            if pat is None or pat in _OPERATORS:
                raise Unsupported(f"'{tok}' needs a selection name or pattern after it")
            names = list(self.sels) if pat == "them" else [n for n in self.sels if fnmatch.fnmatchcase(n, pat)]
            if not names:
                raise Unsupported(f"no selection matches {pat!r}")
            parts = [[list(self.sels[n])] for n in names]
            if tok == "1 of":
                return [b for p in parts for b in p]
            out = [[]]
            for p in parts:
                out = [a + b for a in out for b in p]
            return out
        if tok is None or tok not in self.sels:
            raise Unsupported(f"condition names unknown selection {tok!r}")
        return [list(self.sels[tok])]


def _negate(dnf: list[list[Atom]]) -> list[list[Atom]]:
    # not (A1 or A2 ...) = and of not Ai; not (a and b) = (not a) or (not b)
    out: list[list[Atom]] = [[]]
    for conj in dnf:
        alts = [[a.neg()] for a in conj]
        out = [x + y for x in out for y in alts]
        if len(out) > MAX_BRANCHES:
            raise Unsupported(f"negation expands to more than {MAX_BRANCHES} OR branches")
    return out


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")[:60] or "rule"


def _str_list(v) -> list[str]:
    """A list of strings from what a hand-written file may hold there: a list, or one scalar."""
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


def convert_doc(doc: dict, file: str) -> list[Result]:
    title = doc.get("title") if isinstance(doc, dict) else None
    try:
        if not isinstance(doc, dict) or "detection" not in doc:
            if isinstance(doc, dict) and "correlation" in doc:
                raise Unsupported("correlation rules are not supported")
            raise Unsupported("no detection section")
        det = doc["detection"]
        if not isinstance(det, dict):
            raise Unsupported(f"detection must be a mapping, found {type(det).__name__}")
        cond = det.get("condition")
        if isinstance(cond, list):
            if len(cond) != 1:
                raise Unsupported("several conditions in one rule")
            cond = cond[0]
        if not isinstance(cond, str):
            raise Unsupported("detection.condition missing")
        if "|" in cond:
            raise Unsupported("aggregation conditions (| count() ...) are not supported")
        sels = {k: _selection_atoms(k, v) for k, v in det.items() if k not in ("condition", "timeframe")}
        p = _Parser(_tokens(cond), sels)
        dnf = p.expr()
        if p.peek() is not None:
            raise Unsupported(f"unexpected {p.peek()!r} in condition")
        dnf = [list(dict.fromkeys(c)) for c in dnf]
        dnf = [c for c in dnf if c and not any(a.neg() in c for a in c)]  # drop contradictions
        if not dnf:
            raise Unsupported("condition can never hold")
        if len(dnf) > MAX_BRANCHES:
            raise Unsupported(f"more than {MAX_BRANCHES} OR branches")
    except Unsupported as exc:
        return [Result(file, title, error=str(exc))]
    base = _slug(str(title or Path(file).stem))
    severity = LEVELS.get(str(doc.get("level", "medium")).lower(), "medium")
    out = []
    for n, conj in enumerate(dnf, 1):
        rid = f"sigma_{base}" + (f"_{n}" if len(dnf) > 1 else "")
        rule: dict = {"id": rid, "title": str(title), "description": str(doc.get("description", "")).strip(),
                      "severity": severity, "detection": {"conditions": [a.to_yaml() for a in conj]}}
        if doc.get("tags"):
            rule["tags"] = _str_list(doc["tags"])
        if doc.get("id"):
            rule["sigma_id"] = str(doc["id"])
        if doc.get("references"):
            rule["references"] = _str_list(doc["references"])
        out.append(Result(file, title, rid, yaml.safe_dump(rule, sort_keys=False, allow_unicode=True)))
    return out


def _check(res: Result, tmp: Path) -> Result:
    """A converted rule must load through our own loader; otherwise it is reported, not written."""
    f = tmp / f"{res.rule_id}.yaml"
    f.write_text(res.yaml, encoding="utf-8")
    _, problems = load_rules(f)
    f.unlink()
    if problems:
        res.error = "converted rule is invalid: " + "; ".join(str(p).split(": ", 1)[-1] for p in problems)
    return res


def convert_path(path: str | Path) -> list[Result]:
    import tempfile

    p = Path(path)
    files = sorted(x for x in p.rglob("*") if x.suffix in (".yml", ".yaml")) if p.is_dir() else [p]
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            try:
                docs = [d for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d is not None]
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                results.append(Result(str(f), None, error=f"cannot read YAML: {exc}"))
                continue
            for doc in docs:
                for res in convert_doc(doc, str(f)):
                    results.append(res if res.error else _check(res, Path(tmp)))
    return results
