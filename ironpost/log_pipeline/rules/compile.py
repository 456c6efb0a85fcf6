"""Turn loaded rules into one matcher: every string condition of every log rule becomes one
pattern of the Hyperscan database of its field (ext/matcher.pyx) or of the `re` twin.

A rule whose conditions are all evaluated in Python (numbers, cidr, `not`, non-text fields) has
no pattern, so every line is a candidate for it: correct, but slower; `rules validate` warns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

from ironpost.core.errors import RuleError
from ironpost.core.extensions import select
from ironpost.log_pipeline.rules.model import TEXT_FIELD_IDS, Rule


def matcher_module() -> ModuleType:
    return select("matcher", "ironpost.log_pipeline.matcher_py")


@dataclass
class CompiledRules:
    log_rules: list  # index = rule index the matcher reports
    packet_rules: list
    py_conditions: list  # per log rule: the conditions Python still has to check on a candidate
    matcher: object
    always: list = field(default_factory=list)  # log rules without any pattern


def _split(rules: list[Rule]):
    log_rules = [r for r in rules if r.input == "logs"]
    patterns, owners, py_conds, always = [], [], [], []
    for ri, r in enumerate(log_rules):
        rest = []
        n = 0
        for c in r.conditions:
            pat = c.hs_pattern()
            if pat is None:
                rest.append(c)
                continue
            patterns.append((pat, c.caseless, TEXT_FIELD_IDS[c.field], ri, c.or_missing))
            owners.append((r, c))
            n += 1
        if n == 0:
            always.append(ri)
        py_conds.append(rest)
    return log_rules, patterns, owners, py_conds, always


def compile_rules(rules: list[Rule], impl: ModuleType | None = None) -> CompiledRules:
    """One matcher for all log rules; a rejected pattern raises RuleError (file, line, rule id)."""
    impl = impl or matcher_module()
    log_rules, patterns, owners, py_conds, always = _split(rules)
    try:
        m = impl.Matcher(patterns, len(log_rules), always)
    except ValueError as exc:
        idx, msg = exc.args if len(exc.args) == 2 else (-1, str(exc))
        if 0 <= idx < len(owners):
            r, c = owners[idx]
            raise RuleError(f"pattern for {c.field} {c.operator} {c.value!r} rejected by the matcher: {msg}",
                            r.file, c.line, r.id) from exc
        raise RuleError(f"matcher rejected the rule set: {msg}") from exc
    return CompiledRules(log_rules, [r for r in rules if r.input == "packets"], py_conds, m, always)


def validate_patterns(rules: list[Rule], impl: ModuleType | None = None) -> list[RuleError]:
    """Compile each rule on its own so that every rejected pattern is reported, not just the first."""
    impl = impl or matcher_module()
    problems = []
    for r in rules:
        if r.input != "logs":
            continue
        for c in r.conditions:
            pat = c.hs_pattern()
            if pat is None:
                continue
            try:
                impl.Matcher([(pat, c.caseless, TEXT_FIELD_IDS[c.field], 0)], 1)
            except ValueError as exc:
                msg = exc.args[1] if len(exc.args) == 2 else str(exc)
                problems.append(RuleError(f"pattern for {c.field} {c.operator} {c.value!r} rejected by the matcher: {msg}",
                                          r.file, c.line, r.id))
    return problems
