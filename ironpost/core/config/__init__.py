"""ironpost.toml: schema, loading, environment overrides and validation.

Each config section has its own file in `sections/`, owned by the module that reads it.
"""

from ironpost.core.config.load import Config, load_config, parse_config, redact
from ironpost.core.config.schema import Field, Section

__all__ = ["Config", "Field", "Section", "load_config", "parse_config", "redact"]
