"""Rules as data: conditions, thresholds, and how each condition is evaluated and explained.

A condition is one of: equals, contains, startswith, endswith, regex, in, exists, cidr, gt, lt,
with modifiers case_insensitive, not and or_missing (the condition also holds when the line has no
such field: `process in [mysqld, mariadbd]` or_missing accepts MySQL's own log file, which names no
process, and refuses a syslog line another program wrote). All conditions of a rule must hold (AND).
String conditions on built-in text fields (without `not`) become Hyperscan patterns and filter lines
in C (an or_missing pattern also holds where the field is absent); everything else is evaluated
here, on the few candidate lines only.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from functools import cached_property
from dataclasses import dataclass, field
from typing import Any

OPERATORS = ("equals", "contains", "startswith", "endswith", "regex", "in", "exists", "cidr", "gt", "lt")
MODIFIERS = ("case_insensitive", "not", "or_missing")
STRING_OPERATORS = frozenset(("equals", "contains", "startswith", "endswith", "regex", "in"))
# fields the C parser produces as text; their string conditions are matched by Hyperscan
TEXT_FIELDS = ("host", "process", "tag", "msgid", "message", "src_ip", "user", "rhost", "raw")
TEXT_FIELD_IDS = {name: i for i, name in enumerate(TEXT_FIELDS)}
MAX_PATTERN = 1000
INPUTS = ("logs", "packets")


def field_text(v: Any) -> str | None:
    """The text a string condition compares against: str as is, numbers as written, else None."""
    if type(v) is str:
        return v
    if type(v) is int or type(v) is float:
        return str(v)
    return None


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


# Text and patterns: Hyperscan scans bytes, without UTF-8 mode. Its UTF-8 mode is undefined on
# invalid UTF-8, which anyone who can write a log line can send, so it is never used. Instead
# the pattern is made byte-exact for UTF-8 text: a non-ASCII character becomes its UTF-8 byte
# sequence as one group (so a quantifier repeats the whole character), and case-insensitive
# matching of a non-ASCII letter becomes an alternation of its case variants (Hyperscan folds
# ASCII only). Python evaluates the very same byte pattern (`re` on bytes: ASCII \w, \d and
# case folding, like Hyperscan), so the daemon, `rules explain` and the twin agree on any input.


def _char_bytes(ch: str, caseless: bool) -> bytes:
    """One character as a byte-exact pattern piece; non-ASCII letters get their case variants."""
    forms = [ch]
    if caseless and ord(ch) > 127:
        for v in (ch.lower(), ch.upper(), ch.title()):
            if len(v) == 1 and v not in forms:
                forms.append(v)
    alts = [b"".join(b"\\x%02x" % b for b in f.encode("utf-8", "surrogatepass")) for f in forms]
    return b"(?:" + b"|".join(alts) + b")"


def hs_escape(s: str, caseless: bool = False) -> bytes:
    """A literal as a pattern both Hyperscan and Python `re` read the same way."""
    out = bytearray()
    for ch in s:
        c = ord(ch)
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122:
            out.append(c)
        elif c < 128:
            out += b"\\x%02x" % c
        else:
            out += _char_bytes(ch, caseless)
    return bytes(out)


def hs_regex(pattern: str, caseless: bool = False) -> bytes:
    """A rule's regex as the byte pattern Hyperscan and Python both scan with.

    ASCII passes through unchanged. A non-ASCII character outside a class becomes one group of
    its UTF-8 bytes; inside a class it raises ValueError, since a byte class cannot express
    "one of these characters" (write an alternation, (?:é|è), instead)."""
    out = bytearray()
    i, n = 0, len(pattern)
    in_class = False
    class_start = 0
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if ord(nxt) > 127:
                ch, i = nxt, i + 1  # an escaped non-ASCII character is that character
            else:
                out += pattern[i:i + 2].encode("ascii")
                i += 2
                continue
        if ord(ch) > 127:
            if in_class:
                raise ValueError(f"non-ASCII character {ch!r} inside a character class: Hyperscan matches bytes, "
                                 f"so write an alternation such as (?:é|è) instead")
            out += _char_bytes(ch, caseless)
            i += 1
            continue
        if in_class:
            if ch == "]" and i > class_start:
                in_class = False
        elif ch == "[":
            in_class = True
            class_start = i + 1
            if i + 1 < n and pattern[i + 1] == "^":
                class_start += 1
                out += b"[^"
                i += 2
                continue
        out.append(ord(ch))
        i += 1
    return bytes(out)


@dataclass
class Condition:
    field: str
    operator: str
    value: Any = None
    modifiers: frozenset = frozenset()
    line: int | None = None
    _rx: Any = field(default=None, repr=False, compare=False)
    _nets: Any = field(default=None, repr=False, compare=False)
    _set: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        ci = self.caseless
        pat = self.byte_pattern()
        if pat is not None:
            # the bytes Hyperscan scans with, so a Python check (a `not`, `rules explain`) agrees with it
            self._rx = re.compile(pat, re.IGNORECASE if ci else 0)
        elif self.operator == "cidr":
            vals = self.value if isinstance(self.value, list) else [self.value]
            self._nets = [ipaddress.ip_network(str(v), strict=False) for v in vals]
        elif self.operator == "in":
            self._set = {(str(v).lower() if ci else str(v)) for v in self.value}

    @property
    def caseless(self) -> bool:
        return "case_insensitive" in self.modifiers

    @property
    def negate(self) -> bool:
        return "not" in self.modifiers

    @property
    def or_missing(self) -> bool:
        return "or_missing" in self.modifiers

    def hs_pattern(self) -> bytes | None:
        """The Hyperscan expression for this condition, or None when it is evaluated in Python."""
        if self.negate or self.field not in TEXT_FIELD_IDS:
            return None
        return self.byte_pattern()

    def byte_pattern(self) -> bytes | None:
        """This string condition as a byte pattern (see hs_regex), or None for other conditions."""
        if self.operator not in STRING_OPERATORS:
            return None
        v, ci = self.value, self.caseless
        if self.operator == "regex":
            return hs_regex(v, ci) if isinstance(v, str) else None
        if self.operator == "in":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                return None
            return b"^(?:" + b"|".join(hs_escape(x, ci) for x in v) + b")$"
        if not isinstance(v, str):
            return None
        e = hs_escape(v, ci)
        return {"equals": b"^" + e + b"$", "contains": e, "startswith": b"^" + e, "endswith": e + b"$"}[self.operator]

    def holds(self, rec: dict) -> bool:
        return self.evaluate(rec)[0]

    def evaluate(self, rec: dict) -> tuple[bool, str]:
        """(held, why): `why` explains the outcome in words, for `rules explain`."""
        v = rec.get(self.field)
        if v is None and self.or_missing:
            return True, f"field {self.field!r} is missing, which or_missing allows"
        ok, why = self._raw(v)
        if self.negate:
            return (not ok), (f"not: {why}")
        return ok, why

    def _raw(self, v: Any) -> tuple[bool, str]:
        op, want, name = self.operator, self.value, self.field
        if op == "exists":
            present = v is not None
            expect = want is not False
            return present == expect, f"field {name!r} is {'present' if present else 'missing'}"
        if v is None:
            return False, f"field {name!r} is missing"
        if op in ("gt", "lt"):
            x = _number(v)
            if x is None:
                return False, f"{name}={v!r} is not a number"
            ok = x > float(want) if op == "gt" else x < float(want)
            return ok, f"{name}={v!r} {'is' if ok else 'is not'} {'>' if op == 'gt' else '<'} {want}"
        if op == "cidr":
            try:
                ip = ipaddress.ip_address(str(v))
            except ValueError:
                return False, f"{name}={v!r} is not an IP address"
            ok = any(ip.version == n.version and ip in n for n in self._nets)
            return ok, f"{v} {'is' if ok else 'is not'} in {', '.join(map(str, self._nets))}"
        if op == "equals" and _number(want) is not None and not isinstance(want, str):
            x = _number(v)
            ok = x is not None and x == float(want)
            return ok, f"{name}={v!r} {'==' if ok else '!='} {want}"
        text = field_text(v)
        if text is None:
            return False, f"{name} is not text ({type(v).__name__})"
        if self._rx is not None:
            # The byte pattern decides, exactly as Hyperscan does; the words are for `rules explain`.
            ok = self._rx.search(text.encode("utf-8", "surrogatepass")) is not None
        elif op == "in":  # a list with numbers in it: compared as text, never a Hyperscan pattern
            ok = (text.lower() if self.caseless else text) in self._set
        else:
            w = str(want).lower() if self.caseless else str(want)
            cmp = text.lower() if self.caseless else text
            ok = {"equals": cmp == w, "contains": w in cmp, "startswith": cmp.startswith(w),
                  "endswith": cmp.endswith(w)}[op]
        if op == "regex":
            return ok, f"regex {want!r} {'matched' if ok else 'did not match'} {text!r}"
        if op == "in":
            return ok, f"{text!r} {'is' if ok else 'is not'} one of {want!r}"
        verb = {"equals": "equal", "contains": "contain", "startswith": "start with", "endswith": "end with"}[op]
        return ok, f"{text!r} {'does' if ok else 'does not'} {verb} {want!r}"


@dataclass
class Threshold:
    count: int = 1
    timeframe_secs: float = 0.0
    group_by: tuple = ()
    distinct: str | None = None  # count distinct values of this field (port scans) instead of events
    dedup_secs: float | None = None  # quiet time that ends an incident; default timeframe_secs


@dataclass
class Session:
    """Correlation over the lines one connection writes (sshd: the same host, process and pid).

    Every matching line of a rule with a session block is remembered in its session (rule id,
    user, address). `fill` takes src_ip/user a line lacks from its session; `after`/`unless`
    require (or forbid) that the session saw other rules; `new_user` requires a user other
    than those the `after` rules saw; `wait_for_address` holds a match whose line names no
    address until a later line of the session does; `silent` rules only feed the session."""

    key: tuple = ("host", "process", "pid")
    silent: bool = False
    fill: bool = False
    after: tuple = ()
    unless: tuple = ()
    new_user: bool = False
    wait_for_address: bool = False
    ttl_secs: float = 600.0


SESSION_KEYS = {"key", "silent", "fill", "after", "unless", "new_user", "wait_for_address", "ttl_secs"}
ADDRESS_FIELDS = ("src_ip", "dst_ip")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$")


def normalise_address(rec: dict, name: str = "src_ip") -> None:
    """Keep rec[name] only as a valid IP address in canonical form (`::ffff:a.b.c.d` -> a.b.c.d);
    a DNS name (or anything else name-like) moves to src_host, other text is dropped: only a
    real address may ever reach a ban."""
    v = rec.get(name)
    if not isinstance(v, str):
        return
    canonical, host = _canonical_address(v)
    if canonical is not None:
        rec[name] = canonical
        return
    del rec[name]
    if name == "src_ip" and host is not None:
        rec.setdefault("src_host", host)


@functools.lru_cache(maxsize=8192)
def _canonical_address(v: str) -> tuple[str | None, str | None]:
    """(canonical address, None) or (None, name-like text or None). Remembered: an attack's
    lines repeat a few addresses, and ipaddress parsing was a fifth of a candidate line's cost."""
    t = v.strip()
    if t[:1] == "[" and t[-1:] == "]":
        t = t[1:-1]
    try:
        ip = ipaddress.ip_address(t)
    except ValueError:
        return None, (t if _HOSTNAME.match(t) else None)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), None


@dataclass
class Rule:
    id: str
    title: str
    severity: str
    conditions: list
    description: str = ""
    threshold: Threshold | None = None
    tags: list = field(default_factory=list)
    extract: list = field(default_factory=list)  # [(field, compiled regex with named groups)]
    input: str = "logs"
    rate_limit: int = 100  # alerts per rule per minute of event time
    file: str | None = None
    line: int | None = None
    service: str | None = None
    session: Session | None = None

    @cached_property
    def extract_names(self) -> frozenset:
        # asked for every candidate line in apply_extract: computed once per rule
        return frozenset(k for _, rx in self.extract for k in rx.groupindex)

    def apply_extract(self, rec: dict) -> None:
        """Fields from the rule's own patterns, which know where the service writes them: they
        replace the parser's built-in guesses (an attacker can put "from 10.0.0.1" in a user
        name), the first pattern that yields a field wins, and a field the rule extracts but
        did not find on this line is dropped rather than left to the guess."""
        got: set = set()
        for fname, rx in self.extract:
            text = field_text(rec.get(fname))
            if text is None:
                continue
            m = rx.search(text)
            if m:
                for k, v in m.groupdict().items():
                    if v is not None and k not in got:
                        rec[k] = v
                        got.add(k)
        names = self.extract_names
        for k in names - got:
            rec.pop(k, None)
        if "src_ip" in names and "port" not in got:
            rec.pop("port", None)  # the built-in port belonged to the built-in guess of the address
        for k in ADDRESS_FIELDS:
            if k in got:
                normalise_address(rec, k)

    def summary(self) -> dict:
        t = self.threshold
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "input": self.input,
            "conditions": len(self.conditions),
            "threshold": None
            if t is None
            else {"count": t.count, "timeframe_secs": t.timeframe_secs, "group_by": list(t.group_by)},
            "tags": list(self.tags),
            "service": self.service,
            "file": self.file,
        }
