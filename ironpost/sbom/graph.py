"""Packages from several lockfiles as one graph: one node per purl, the root project, its edges.

Both SBOM writers use this so CycloneDX and SPDX describe the same components and dependencies.
When exactly one local (root/workspace) package exists it is the document's subject; otherwise a
synthetic application named after the scanned folder is, depending on every local package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ironpost.sbom.model import Package


@dataclass
class Graph:
    root_name: str
    root_version: str
    root_purl: str | None
    root_deps: list[str]
    components: list[Package] = field(default_factory=list)  # everything but the root, one per purl
    edges: dict[str, list[str]] = field(default_factory=dict)  # purl -> purls


def build(packages: list[Package], name: str) -> Graph:
    by_purl: dict[str, Package] = {}
    edges: dict[str, dict[str, None]] = {}
    for p in packages:
        if p.purl not in by_purl:
            by_purl[p.purl] = p
            edges[p.purl] = {}
        for d in p.dependencies:
            edges[p.purl][d] = None
    locals_ = [p for p in by_purl.values() if p.local]
    if len(locals_) == 1:
        r = locals_[0]
        g = Graph(r.name, r.version, r.purl, [d for d in edges[r.purl] if d in by_purl])
        g.components = [p for p in by_purl.values() if p is not r]
    else:
        roots = locals_ or [p for p in by_purl.values() if p.direct]
        g = Graph(name, "", None, [p.purl for p in roots])
        g.components = list(by_purl.values())
    g.edges = {purl: [d for d in ds if d in by_purl and d != g.root_purl] for purl, ds in edges.items() if purl != g.root_purl}
    return g
