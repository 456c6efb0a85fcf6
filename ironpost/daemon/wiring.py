"""Which modules the daemon runs. The only place (with cli/) that imports the modules.

Each entry: config section -> "package.module:Class". A module runs when its section says
`enabled = true`; it is imported lazily so a host without bcc or Docker still starts.
"""

from __future__ import annotations

import importlib

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
