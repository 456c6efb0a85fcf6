"""Log pipeline: collectors, parsers, rules, thresholds."""
