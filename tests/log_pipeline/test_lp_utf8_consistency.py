"""`rules explain` and the daemon give the same answer on any text: non-ASCII letters, case
variants that fold differently in Unicode and in ASCII, and invalid UTF-8 (hypothesis), with
the compiled matcher and its twin. Hyperscan never runs in UTF-8 mode (undefined on invalid
UTF-8); patterns are made byte-exact instead (rules/model.py hs_regex, hs_escape)."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

import support
from ironpost.core.extensions import compiled
from ironpost.log_pipeline import matcher_py as twin
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules.model import Condition, Rule, hs_regex

ext = compiled("matcher")
IMPLS = [twin] + ([ext] if ext is not None else [])
# letters whose Unicode case folding differs from ASCII's: ß/SS, İ/i, ı/I, ſ/s, K (Kelvin)/k
ALPHABET = "aAbBsSkKiIéÉüÜßſıİ\u212aж Ж.-"
text = st.text(alphabet=ALPHABET, min_size=1, max_size=8)
word = st.text(alphabet=ALPHABET.replace(" ", ""), min_size=1, max_size=8)


def line_for(user: str, tail: bytes) -> bytes:
    return (b"Dec 10 06:55:46 host sshd[24200]: Failed password for " + user.encode("utf-8")
            + b" from 203.0.113.9 port 4242 ssh2" + tail)


def regex_of(parts):
    """Small regexes over the alphabet: literals, a quantified non-ASCII letter, groups, dots."""
    out = []
    for kind, s in parts:
        lit = re.escape(s)
        out.append({"lit": lit, "plus": f"(?:{lit})+", "dot": ".", "alt": f"(?:{lit}|x)", "opt": f"{lit}?"}[kind])
    return "".join(out)


condition = st.one_of(
    st.tuples(st.sampled_from(["contains", "equals", "startswith", "endswith"]), word),
    st.tuples(st.just("in"), st.lists(word, min_size=1, max_size=3)),
    st.tuples(st.just("regex"), st.lists(st.tuples(st.sampled_from(["lit", "plus", "dot", "alt", "opt"]), word),
                                         min_size=1, max_size=3).map(regex_of)),
)


@st.composite
def near_miss(draw, user):
    """A condition value built from the user name itself, letters case-swapped at random, so
    matches that only Unicode (not ASCII) case folding would find are common."""
    i = draw(st.integers(0, len(user) - 1))
    k = draw(st.integers(i + 1, len(user)))
    piece = "".join(draw(st.sampled_from([c, c.lower(), c.upper()])) for c in user[i:k])
    op = draw(st.sampled_from(["contains", "equals", "startswith", "endswith", "in", "regex"]))
    if op == "in":
        return op, [piece, draw(word)]
    if op == "regex":
        kind = draw(st.sampled_from(["lit", "plus", "alt", "opt"]))
        return op, regex_of([(kind, piece)])
    return op, piece


@settings(max_examples=400, deadline=None)
@given(st.data(), st.sampled_from(["user", "message"]), st.booleans(), st.booleans(), word,
       st.sampled_from([b"", b" \xff\xfe", b" \xc3", b" caf\xc3\xa9"]), st.sampled_from(IMPLS))
def test_explain_and_daemon_agree(data, field, caseless, negate, user, tail, impl):
    op, value = data.draw(st.one_of(condition, near_miss(user)))
    mods = frozenset(m for m, on in (("case_insensitive", caseless), ("not", negate)) if on)
    rule = Rule(id="r", title="t", severity="low", conditions=[Condition(field, op, value, mods)], rate_limit=10**9)
    p = Pipeline([rule], year=2026, matcher_impl=impl)
    line = line_for(user, tail)
    fired = bool(p.process(line + b"\n", "test"))
    assert p.explain(rule, line)["matched"] == fired


@settings(max_examples=200, deadline=None)
@given(condition, st.booleans(), word, st.sampled_from([b"", b" \xff", b" caf\xc3\xa9"]))
def test_compiled_matcher_and_twin_agree_on_non_ascii(cond, caseless, user, tail):
    support.need(ext is not None, "ironpost._ext.matcher not built: python setup.py build_ext --inplace")
    op, value = cond
    c = Condition("user", op, value, frozenset({"case_insensitive"} if caseless else ()))
    pats = [(c.hs_pattern(), caseless, 6, 0)]
    buf = line_for(user, tail) + b"\n"
    assert ext.Matcher(pats, 1).scan(buf, 2026) == twin.Matcher(pats, 1).scan(buf, 2026)


def test_non_ascii_letters_match_as_characters():
    # a quantifier repeats the whole character, not its last byte
    rx = re.compile(hs_regex("^é+$"))
    assert rx.search("ééé".encode()) and not rx.search("é\xa9".encode("latin-1"))
    # case-insensitive folding of a non-ASCII letter, in both matchers and in explain
    for impl in IMPLS:
        rule = Rule(id="r", title="t", severity="low",
                    conditions=[Condition("user", "equals", "jörg", frozenset({"case_insensitive"}))])
        p = Pipeline([rule], year=2026, matcher_impl=impl)
        line = line_for("JÖRG", b"")
        assert p.process(line + b"\n") and p.explain(rule, line)["matched"]


def test_non_ascii_in_a_character_class_is_a_rule_error(tmp_path):
    from ironpost.log_pipeline.rules import load_rules

    (tmp_path / "r.yaml").write_text("id: r\ntitle: t\nseverity: low\ndetection:\n  conditions:\n"
                                     "    - field: user\n      operator: regex\n      value: '^j[öo]rg$'\n",
                                     encoding="utf-8")
    rules, problems = load_rules(tmp_path)
    assert not rules and "inside a character class" in str(problems[0])
