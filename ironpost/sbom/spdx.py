"""SPDX 2.3 JSON, written directly (the document is plain data; spdx-tools is only used by tests to validate).

Each package carries its purl as a PACKAGE-MANAGER external reference and its lockfile hashes as
checksums; the graph becomes DESCRIBES + DEPENDS_ON relationships.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson

from ironpost.sbom.graph import build
from ironpost.sbom.model import Package

_ALGS = {"SHA-1": "SHA1", "SHA-256": "SHA256", "SHA-384": "SHA384", "SHA-512": "SHA512", "MD5": "MD5"}
_ID_BAD = re.compile(r"[^A-Za-z0-9.-]")


def _spdx_id(n: int, name: str) -> str:
    return f"SPDXRef-Package-{n}-{_ID_BAD.sub('-', name)[:60]}"


def _package(p_name: str, version: str, purl: str | None, spdx_id: str, hashes: dict[str, str], purpose: str) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": p_name,
        "SPDXID": spdx_id,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": purpose,
    }
    if version:
        d["versionInfo"] = version
    if purl:
        d["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}]
    checks = [{"algorithm": _ALGS[a], "checksumValue": h} for a, h in hashes.items() if a in _ALGS]
    if checks:
        d["checksums"] = checks
    return d


def build_document(packages: list[Package], name: str = "project", version: str = "0.1.0") -> dict[str, Any]:
    g = build(packages, name)
    ids: dict[str, str] = {}
    out_pkgs = []
    root_pkg = next((p for p in packages if g.root_purl and p.purl == g.root_purl), None)
    root_id = "SPDXRef-Root"
    out_pkgs.append(_package(g.root_name, g.root_version, g.root_purl, root_id, root_pkg.hashes if root_pkg else {}, "APPLICATION"))
    for n, p in enumerate(g.components, 1):
        ids[p.purl] = _spdx_id(n, p.name)
        out_pkgs.append(_package(p.name, p.version, p.purl, ids[p.purl], p.hashes, "APPLICATION" if p.local else "LIBRARY"))
    rels = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": root_id}]
    rels += [{"spdxElementId": root_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": ids[d]} for d in g.root_deps if d in ids]
    for purl, ds in g.edges.items():
        src = ids[purl]
        rels += [{"spdxElementId": src, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": ids[d]} for d in ds]
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{name}-sbom",
        "documentNamespace": f"https://spdx.org/spdxdocs/ironpost-{_ID_BAD.sub('-', name)}-{uuid.uuid4()}",
        "creationInfo": {
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: ironpost-{version}"],
        },
        "packages": out_pkgs,
        "relationships": rels,
    }


def render(packages: list[Package], name: str = "project") -> str:
    return orjson.dumps(build_document(packages, name), option=orjson.OPT_INDENT_2).decode()


def render_tag_value(packages: list[Package], name: str = "project") -> str:
    """The same document in SPDX 2.3 tag-value form."""
    doc = build_document(packages, name)
    ci = doc["creationInfo"]
    lines = [
        f"SPDXVersion: {doc['spdxVersion']}",
        f"DataLicense: {doc['dataLicense']}",
        f"SPDXID: {doc['SPDXID']}",
        f"DocumentName: {doc['name']}",
        f"DocumentNamespace: {doc['documentNamespace']}",
        *(f"Creator: {c}" for c in ci["creators"]),
        f"Created: {ci['created']}",
    ]
    for p in doc["packages"]:
        lines += ["", f"PackageName: {p['name']}", f"SPDXID: {p['SPDXID']}"]
        if "versionInfo" in p:
            lines.append(f"PackageVersion: {p['versionInfo']}")
        lines += [f"PackageDownloadLocation: {p['downloadLocation']}", "FilesAnalyzed: false"]
        lines += [f"PackageChecksum: {c['algorithm']}: {c['checksumValue']}" for c in p.get("checksums", ())]
        lines += [f"PackageLicenseConcluded: {p['licenseConcluded']}", f"PackageLicenseDeclared: {p['licenseDeclared']}",
                  f"PackageCopyrightText: {p['copyrightText']}"]
        lines += [f"ExternalRef: {r['referenceCategory']} {r['referenceType']} {r['referenceLocator']}" for r in p.get("externalRefs", ())]
        lines.append(f"PrimaryPackagePurpose: {p['primaryPackagePurpose']}")
    lines.append("")
    lines += [f"Relationship: {r['spdxElementId']} {r['relationshipType']} {r['relatedSpdxElement']}" for r in doc["relationships"]]
    return "\n".join(lines) + "\n"
