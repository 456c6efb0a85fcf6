"""CycloneDX 1.6 (JSON or XML) through cyclonedx-python-lib, with the dependency graph.

bom-ref of each component is its purl, which is unique after the graph merged duplicates.
"""

from __future__ import annotations

from packageurl import PackageURL

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentScope, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion

from ironpost.sbom.graph import build
from ironpost.sbom.model import Package

_ALGS = {a.value: a for a in HashAlgorithm}


def _component(p: Package, ctype: ComponentType = ComponentType.LIBRARY) -> Component:
    purl = PackageURL.from_string(p.purl)
    if p.local and ctype is ComponentType.LIBRARY:
        ctype = ComponentType.APPLICATION
    return Component(
        name=purl.name,
        group=purl.namespace,
        version=p.version or None,
        type=ctype,
        bom_ref=p.purl,
        purl=purl,
        scope=None if p.local else (ComponentScope.OPTIONAL if p.scope == "optional" else ComponentScope.REQUIRED),
        hashes=[HashType(alg=_ALGS[a], content=h) for a, h in p.hashes.items() if a in _ALGS],
    )


def build_bom(packages: list[Package], name: str = "project") -> Bom:
    g = build(packages, name)
    bom = Bom()
    if g.root_purl:
        root_pkg = next(p for p in packages if p.purl == g.root_purl)
        root = _component(root_pkg, ComponentType.APPLICATION)
    else:
        root = Component(name=g.root_name, type=ComponentType.APPLICATION, bom_ref=f"ironpost-root:{g.root_name}")
    bom.metadata.component = root
    comps = {p.purl: _component(p) for p in g.components}
    bom.components.update(comps.values())
    # Dependencies are added directly: Bom.register_dependency rebuilds sets per call and is quadratic at 10k components.
    deps = [Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=comps[d].bom_ref) for d in g.root_deps if d in comps])]
    for purl, ds in g.edges.items():
        deps.append(Dependency(ref=comps[purl].bom_ref, dependencies=[Dependency(ref=comps[d].bom_ref) for d in ds]))
    bom.dependencies.update(deps)
    return bom


def render(packages: list[Package], fmt: str = "json", name: str = "project") -> str:
    """fmt: json or xml. Returns the document text (CycloneDX 1.6)."""
    bom = build_bom(packages, name)
    out = make_outputter(bom, OutputFormat.JSON if fmt == "json" else OutputFormat.XML, SchemaVersion.V1_6)
    return out.output_as_string(indent=2)


def validate(text: str, fmt: str = "json") -> str | None:
    """Validate against the official CycloneDX 1.6 schema; returns the error or None."""
    if fmt == "json":
        from cyclonedx.validation.json import JsonStrictValidator

        validator = JsonStrictValidator(SchemaVersion.V1_6)
    else:
        from cyclonedx.validation.xml import XmlValidator

        validator = XmlValidator(SchemaVersion.V1_6)
    err = validator.validate_str(text)
    return None if err is None else str(err)
