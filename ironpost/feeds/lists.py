"""Plain block lists (FireHOL .netset/.ipset, Spamhaus DROP/EDROP, one address or CIDR a line).

'#' and ';' start comments (Spamhaus writes "1.2.3.0/24 ; SBL123"); blank lines are skipped.
A line that is not an address or CIDR is counted and reported with its line number, and the
rest of the list still loads: one typo must not unban everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ironpost.core.decisions import DecisionError, checked


@dataclass
class ParsedList:
    values: dict[str, str] = field(default_factory=dict)  # canonical value -> scope
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, why), the first few
    bad_count: int = 0


def parse_list(text: str, name: str, *, max_entries: int, max_reported: int = 10) -> ParsedList:
    out = ParsedList()
    origin = f"list:{name}"
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].split(";", 1)[0].strip()
        if not body:
            continue
        token = body.split()[0]
        try:
            _, value, scope = checked(token, origin)
        except DecisionError as exc:
            out.bad_count += 1
            if len(out.bad) < max_reported:
                out.bad.append((n, str(exc)))
            continue
        out.values[value] = scope
        if len(out.values) > max_entries:
            raise DecisionError(f"list {name}: more than {max_entries} entries (raise [feeds] list_max_entries)")
    return out
