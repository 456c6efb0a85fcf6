"""Which modules the daemon runs, and what each is handed. The only place (with cli/) that
imports the modules.

Each entry: config section -> "package.module:Class". A module runs when its section says
`enabled = true`; it is imported lazily so a host without bcc or Docker still starts.
Backends a module works against but does not choose (the log pipeline's WindowState) are
picked here from the config and passed to the module's constructor.
"""

from __future__ import annotations

import importlib
from typing import Any

from ironpost.core.config import Config
from ironpost.core.window import WindowState

MODULES: dict[str, str] = {
    "log_pipeline": "ironpost.log_pipeline.module:LogPipelineModule",
    "ebpf": "ironpost.ebpf.module:EbpfModule",
    "container": "ironpost.container.module:ContainerModule",
    "sbom": "ironpost.sbom.module:SbomModule",
    "lapi": "ironpost.lapi.module:LapiModule",
    "fleet": "ironpost.fleet.module:FleetModule",
    "feeds": "ironpost.feeds.module:FeedsModule",
}


def load_factory(section: str):
    target = MODULES[section]
    mod_name, _, cls_name = target.partition(":")
    return getattr(importlib.import_module(mod_name), cls_name)


def window_state(config: Config) -> WindowState | None:
    """The log pipeline's threshold state: Redis when [log_pipeline.storage] redis_url is set
    (several daemons see one attacker), else None (kept in the pipeline's process)."""
    url = config.section("log_pipeline.storage").redis_url
    if url:
        from ironpost.storage.redis_state import RedisState  # lazy: redis only when configured

        return RedisState(url, "ironpost:lp:")
    return None


# constructor arguments per module, besides its config
_BACKENDS: dict[str, dict[str, Any]] = {"log_pipeline": {"state_factory": window_state}}


def build_module(section: str, config: Config):
    """The module of one config section, built with the backends it is handed."""
    return load_factory(section)(config, **_BACKENDS.get(section, {}))
