"""Synthetic rule sets of any size for the log pipeline benchmarks (realistic shapes, mostly
non-matching, as in a real deployment where most rules watch for rare events)."""

from __future__ import annotations

import random

from ironpost.log_pipeline.rules.model import Condition, Rule, Threshold

_WORDS = ["session", "opened", "closed", "kernel", "segfault", "denied", "refused", "timeout", "invalid", "error",
          "warning", "usb", "mount", "cron", "sudo", "su", "useradd", "groupadd", "passwd", "login"]


def ruleset(n: int, seed: int = 5) -> list[Rule]:
    rng = random.Random(seed)
    rules = [Rule("ssh_brute_force", "SSH brute force", "high",
                  [Condition("message", "regex", r"^Failed password for (invalid user )?\S+ from \S+ port \d+ ssh2")],
                  threshold=Threshold(5, 60.0, ("src_ip",)))]
    for i in range(1, n):
        w1, w2 = rng.sample(_WORDS, 2)
        kind = i % 4
        if kind == 0:
            conds = [Condition("message", "contains", f"{w1} {w2} {i}")]
        elif kind == 1:
            conds = [Condition("process", "equals", f"{w1}d{i}"), Condition("message", "startswith", w2)]
        elif kind == 2:
            conds = [Condition("message", "regex", rf"{w1}[ :]+{w2}\d*\s+id={i}\b")]
        else:
            conds = [Condition("message", "contains", f"{w1}-{i}", frozenset({"case_insensitive"})),
                     Condition("src_ip", "cidr", "10.0.0.0/8")]
        rules.append(Rule(f"r{i}", f"rule {i}", "low", conds))
    return rules
