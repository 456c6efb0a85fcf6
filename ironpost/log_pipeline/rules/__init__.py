"""Detection rules: YAML loading with file/line problems, the model, and compilation for the matcher."""

from ironpost.log_pipeline.rules.compile import CompiledRules, compile_rules, validate_patterns
from ironpost.log_pipeline.rules.loader import load_rules, load_rules_strict
from ironpost.log_pipeline.rules.model import Condition, Rule, Threshold

__all__ = ["CompiledRules", "Condition", "Rule", "Threshold", "compile_rules", "load_rules", "load_rules_strict",
           "validate_patterns"]
