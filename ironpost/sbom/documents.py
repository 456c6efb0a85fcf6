"""An SBOM document in one of the formats we write, for `sbom generate` and the daemon's scans."""

from __future__ import annotations

from ironpost.core.config.sections.sbom import SBOM_FORMATS
from ironpost.sbom.model import Package

FORMATS = SBOM_FORMATS
SUFFIX = {"cyclonedx": ".cdx.json", "cyclonedx-xml": ".cdx.xml", "spdx": ".spdx.json", "spdx-tv": ".spdx"}


def render_sbom(packages: list[Package], fmt: str, name: str, engine: str = "fast") -> str:
    from ironpost.sbom import cyclonedx, spdx  # cyclonedx-python-lib is slow to import; only when writing

    if fmt == "spdx":
        return spdx.render(packages, name)
    if fmt == "spdx-tv":
        return spdx.render_tag_value(packages, name)
    return cyclonedx.render(packages, "xml" if fmt == "cyclonedx-xml" else "json", name, engine=engine)
