"""`ironpost`, `ironpost-cli` and `ironpost-daemon`: the entry points, kept light.

The typer app lives in ironpost.cli.root; importing it (typer, rich, every command group) costs
most of a short command's run, so `--version` answers before it and the app is imported only
when a command needs it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _answered_version(args: list[str], forms: tuple) -> bool:
    """Print the version when args are one of forms (`--version`); True when it did."""
    if args not in forms:
        return False
    from ironpost import __version__

    sys.stdout.write(f"ironpost {__version__}\n")
    return True


def main() -> None:
    name = Path(sys.argv[0]).name
    if name in ("ironpost-cli", "ironpost-daemon"):
        return PROGRAMS[name]()
    if _answered_version(sys.argv[1:], (["--version"], ["cli", "--version"])):
        return
    from ironpost.cli.root import main as run

    run()


def cli_main() -> None:
    """`ironpost-cli ...`, the seed's name for `ironpost cli ...`."""
    if _answered_version(sys.argv[1:], (["--version"],)):
        return
    from ironpost.cli.root import cli_main as run

    run()


def daemon_main() -> None:
    """`ironpost-daemon --config PATH`, the seed's name for `ironpost daemon`."""
    from ironpost.cli.root import daemon_main as run

    run()


# Invoked under one of these names (console script, or a symlink to the frozen binary), we act as it.
PROGRAMS = {"ironpost-cli": cli_main, "ironpost-daemon": daemon_main}


def __getattr__(name: str):
    # `from ironpost.cli import app` (tests, embedding): the whole app, every group registered
    if name in ("app", "cli_app"):
        from ironpost.cli import root as module

        module.build()
        return getattr(module, name)
    raise AttributeError(f"module 'ironpost.cli' has no attribute {name!r}")
