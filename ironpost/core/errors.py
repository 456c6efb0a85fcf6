"""Typed errors: one base, one subclass per module, so callers can catch by origin."""

from __future__ import annotations


class IronpostError(Exception):
    """Base of every error Ironpost raises on purpose."""

    exit_code = 1


class ConfigError(IronpostError):
    """The configuration is invalid. Carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems) if self.problems else where + "invalid config")


class DaemonError(IronpostError):
    """Daemon lifecycle problems: PID file held, control socket unavailable."""


class StorageError(IronpostError):
    """A store could not read or write (the caller may spool and retry)."""


class LogPipelineError(IronpostError):
    """Log pipeline: bad rules, parse failures that must surface, collector setup."""


class RuleError(LogPipelineError):
    """A rule file is invalid. `file` and `line` point at the problem when known."""

    exit_code = 2

    def __init__(self, message: str, file: str | None = None, line: int | None = None, rule_id: str | None = None):
        self.file, self.line, self.rule_id = file, line, rule_id
        parts = [p for p in (file, str(line) if line else None) if p]
        where = ":".join(parts)
        rid = f" [{rule_id}]" if rule_id else ""
        super().__init__(f"{where}{rid}: {message}" if where or rid else message)


class EbpfError(IronpostError):
    """Network module: BPF unavailable, attach refused, map errors."""


class ContainerError(IronpostError):
    """Container guard: docker unreachable, bad policy, action failed."""


class SbomError(IronpostError):
    """SBOM module: broken lockfile, limits exceeded, vulnerability DB problems."""
