"""One file per config section. The order here is the order of `config show`."""

from ironpost.core.config.sections.container import CONTAINER
from ironpost.core.config.sections.ebpf import EBPF
from ironpost.core.config.sections.feeds import FEEDS
from ironpost.core.config.sections.fleet import FLEET
from ironpost.core.config.sections.general import GENERAL
from ironpost.core.config.sections.lapi import LAPI
from ironpost.core.config.sections.log_pipeline import LOG_PIPELINE, LOG_PIPELINE_STORAGE
from ironpost.core.config.sections.sbom import SBOM

SECTIONS = {s.name: s for s in (GENERAL, EBPF, LOG_PIPELINE, LOG_PIPELINE_STORAGE, CONTAINER, SBOM, FLEET, LAPI, FEEDS)}
