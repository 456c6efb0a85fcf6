"""Generated SBOMs validate against the official schemas and carry the dependency graph."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import support
from ironpost.cli.sbom import app as sbom_app
from ironpost.sbom import cyclonedx, spdx
from ironpost.sbom.lockfiles import parse_file

runner = CliRunner()
PEER_VERSION = "2.1.0"
PEER_DIR = Path(os.environ.get("IRONPOST_PEER_CACHE", "/tmp/ironpost-peers")) / f"cyclonedx-npm-{PEER_VERSION}"


@pytest.fixture
def npm_packages(fixtures):
    return parse_file(fixtures / "npm-parity" / "package-lock.json")


@pytest.fixture
def mixed_packages(tmp_path, fixtures, npm_packages):
    """Two lockfiles (npm + a Cargo workspace with two crates): no single root, a synthetic one is used."""
    lock = tmp_path / "Cargo.lock"
    lock.write_text('version = 3\n\n[[package]]\nname = "a"\nversion = "0.1.0"\ndependencies = ["b", "serde"]\n\n'
                    '[[package]]\nname = "b"\nversion = "0.1.0"\n\n'
                    f'[[package]]\nname = "serde"\nversion = "1.0.100"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "{"c" * 64}"\n')
    return npm_packages + parse_file(lock)


def walk(components):
    for c in components:
        yield c
        yield from walk(c.get("components", []))


@pytest.mark.parametrize("which", ["npm_packages", "mixed_packages"])
def test_cyclonedx_json_validates_with_graph(request, which):
    pkgs = request.getfixturevalue(which)
    text = cyclonedx.render(pkgs, "json", "demo")
    assert cyclonedx.validate(text, "json") is None
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6"
    refs = {c["bom-ref"] for c in doc["components"]} | {doc["metadata"]["component"]["bom-ref"]}
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert set(deps) == refs and all(x in refs for ds in deps.values() for x in ds)
    if which == "npm_packages":
        assert doc["metadata"]["component"]["purl"] == "pkg:npm/parity-app@1.0.0"
        assert "pkg:npm/express@4.18.2" in deps["pkg:npm/parity-app@1.0.0"]
        assert "pkg:npm/body-parser@1.20.1" in deps["pkg:npm/express@4.18.2"]
        lodash = next(c for c in doc["components"] if c["name"] == "lodash")
        assert lodash["hashes"][0]["alg"] == "SHA-512" and len(lodash["hashes"][0]["content"]) == 128
        babel = next(c for c in doc["components"] if c["name"] == "code-frame")
        assert babel["group"] == "@babel"
    else:
        assert doc["metadata"]["component"]["name"] == "demo"
        root_deps = deps[doc["metadata"]["component"]["bom-ref"]]
        assert {"pkg:cargo/a@0.1.0", "pkg:cargo/b@0.1.0", "pkg:npm/parity-app@1.0.0"} <= set(root_deps)
        assert set(deps["pkg:cargo/a@0.1.0"]) == {"pkg:cargo/b@0.1.0", "pkg:cargo/serde@1.0.100"}


def test_cyclonedx_xml_validates(mixed_packages):
    text = cyclonedx.render(mixed_packages, "xml", "demo")
    assert cyclonedx.validate(text, "xml") is None
    assert 'xmlns="http://cyclonedx.org/schema/bom/1.6"' in text and "<dependencies>" in text


def test_validator_rejects_a_broken_document(npm_packages):
    doc = json.loads(cyclonedx.render(npm_packages, "json"))
    doc["components"][0]["type"] = "not-a-type"
    assert cyclonedx.validate(json.dumps(doc), "json") is not None


def _spdx_errors(path: Path) -> list[str]:
    from spdx_tools.spdx.parser.parse_anything import parse_file as spdx_parse
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    return [m.validation_message for m in validate_full_spdx_document(spdx_parse(str(path)))]


@pytest.mark.parametrize("which", ["npm_packages", "mixed_packages"])
def test_spdx_validates_with_spdx_tools(request, tmp_path, which):
    pkgs = request.getfixturevalue(which)
    out = tmp_path / "sbom.spdx.json"
    out.write_text(spdx.render(pkgs, "demo"))
    assert _spdx_errors(out) == []
    doc = json.loads(out.read_text())
    purls = {r["referenceLocator"] for p in doc["packages"] for r in p.get("externalRefs", [])}
    assert {p.purl for p in pkgs} == purls
    ids = {p["SPDXID"] for p in doc["packages"]}
    assert all(r["relatedSpdxElement"] in ids for r in doc["relationships"])
    assert sum(r["relationshipType"] == "DEPENDS_ON" for r in doc["relationships"]) > len(pkgs) // 2


@pytest.mark.parametrize("which", ["npm_packages", "mixed_packages"])
def test_spdx_tag_value_validates_and_matches_json(request, tmp_path, which):
    from spdx_tools.spdx.parser.parse_anything import parse_file as spdx_parse

    pkgs = request.getfixturevalue(which)
    out = tmp_path / "sbom.spdx"  # the extension selects the tag-value parser
    out.write_text(spdx.render_tag_value(pkgs, "demo"))
    assert _spdx_errors(out) == []
    doc = spdx_parse(str(out))
    purls = {r.locator for p in doc.packages for r in p.external_references}
    assert purls == {p.purl for p in pkgs}
    assert len(doc.relationships) == len(spdx.build_document(pkgs, "demo")["relationships"])


def test_spdx_validation_catches_breakage(tmp_path, npm_packages):
    doc = spdx.build_document(npm_packages)
    doc["relationships"].append({"spdxElementId": "SPDXRef-Nope", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-Root"})
    out = tmp_path / "bad.spdx.json"
    out.write_text(json.dumps(doc))
    assert _spdx_errors(out)


@pytest.mark.parametrize("fmt, check", [
    ("cyclonedx", lambda t: cyclonedx.validate(t, "json")),
    ("cyclonedx-xml", lambda t: cyclonedx.validate(t, "xml")),
    ("spdx", None),
])
def test_generate_cli(tmp_path, fixtures, fmt, check, monkeypatch):
    monkeypatch.delenv("IRONPOST_CONFIG", raising=False)
    out = tmp_path / ("out.xml" if fmt == "cyclonedx-xml" else "out.json")
    r = runner.invoke(sbom_app, ["generate", "--dir", str(fixtures / "npm-parity"), "--output", str(out), "--format", fmt])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    if check:
        assert check(text) is None
    else:
        assert _spdx_errors(out) == []
    assert "express" in text and "89 packages" in r.output


def test_generate_cli_bad_format_and_stdout(fixtures):
    assert runner.invoke(sbom_app, ["generate", "--dir", str(fixtures / "npm-parity"), "--format", "swid"]).exit_code == 2
    r = runner.invoke(sbom_app, ["generate", "--dir", str(fixtures / "npm-parity")])
    assert r.exit_code == 0 and json.loads(r.stdout)["bomFormat"] == "CycloneDX"


def _install_peer() -> Path:
    exe = PEER_DIR / "node_modules" / ".bin" / "cyclonedx-npm"
    if not exe.exists():
        PEER_DIR.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["npm", "install", "--prefix", str(PEER_DIR), "--no-audit", "--no-fund", "--ignore-scripts",
                            f"@cyclonedx/cyclonedx-npm@{PEER_VERSION}"], check=True, capture_output=True, timeout=240)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            support.need(False, f"could not install @cyclonedx/cyclonedx-npm from the npm registry: {exc}")
    return exe


@pytest.mark.slow
@pytest.mark.parametrize("project", ["npm-parity", "npm-parity-big-v3", "npm-parity-big-v2"])
def test_peer_parity_with_cyclonedx_npm(tmp_path, fixtures, project):
    """Same set of purls as the reference CycloneDX generator for npm, on real lockfiles."""
    support.need(shutil.which("npm") is not None and shutil.which("node") is not None,
                 "npm/node not installed: the peer @cyclonedx/cyclonedx-npm cannot run")
    exe = _install_peer()
    work = tmp_path / "proj"
    shutil.copytree(fixtures / project, work)
    peer_out = tmp_path / "peer.json"
    subprocess.run([str(exe), "--package-lock-only", "--output-format", "JSON", "--output-file", str(peer_out)],
                   cwd=work, check=True, capture_output=True, timeout=120)
    peer = json.loads(peer_out.read_text())
    ours = json.loads(cyclonedx.render(parse_file(work / "package-lock.json"), "json"))
    peer_purls = {c["purl"].split("?")[0] for c in walk(peer["components"]) if c.get("purl")}
    our_purls = {c["purl"] for c in walk(ours["components"])}
    assert len(peer_purls) > 80
    assert our_purls == peer_purls
    assert ours["metadata"]["component"]["purl"] == peer["metadata"]["component"]["purl"]


def test_v1_tree_and_v2_packages_agree(tmp_path, fixtures):
    """A v2 lockfile carries both layouts: reading only its v1 "dependencies" tree gives the same packages."""
    doc = json.loads((fixtures / "npm-parity-big-v2" / "package-lock.json").read_text())
    v2 = parse_file(fixtures / "npm-parity-big-v2" / "package-lock.json")
    doc.pop("packages")
    doc["lockfileVersion"] = 1
    shutil.copy(fixtures / "npm-parity-big-v2" / "package.json", tmp_path / "package.json")
    (tmp_path / "package-lock.json").write_text(json.dumps(doc))
    v1 = parse_file(tmp_path / "package-lock.json")
    assert {p.purl for p in v1} == {p.purl for p in v2} and len(v1) > 200
    edges = lambda pkgs: {(p.purl, d) for p in pkgs for d in p.dependencies}  # noqa: E731
    # v1 "requires" leaves out peer dependencies; v2 lists them and we keep them as edges
    peers = {(name, peer) for key, meta in json.loads((fixtures / "npm-parity-big-v2" / "package-lock.json").read_text())["packages"].items()
             for name in [meta.get("name") or key.rsplit("node_modules/", 1)[-1]] for peer in meta.get("peerDependencies", {})}
    extra = edges(v2) - edges(v1)
    assert edges(v1) <= edges(v2) and extra
    by_purl = {p.purl: p.name for p in v2}
    assert all((by_purl[a], by_purl[b]) in peers for a, b in extra)
    assert {p.purl for p in v1 if p.direct} == {p.purl for p in v2 if p.direct}
    assert {p.purl: p.hashes for p in v1} == {p.purl: p.hashes for p in v2}


def _norm(doc):
    comps = sorted(json.dumps(c, sort_keys=True) for c in doc["components"])
    deps = sorted((d["ref"], tuple(sorted(d.get("dependsOn", [])))) for d in doc["dependencies"])
    return comps, deps, json.dumps(doc["metadata"]["component"], sort_keys=True)


@pytest.mark.parametrize("which", ["npm_packages", "mixed_packages"])
def test_fast_writer_equals_cyclonedx_lib(request, which):
    """The direct writer and cyclonedx-python-lib's model give the same components, root and graph."""
    pkgs = request.getfixturevalue(which)
    fast = cyclonedx.render(pkgs, "json", "demo")
    lib = cyclonedx.render(pkgs, "json", "demo", engine="lib")
    assert cyclonedx.validate(lib, "json") is None and cyclonedx.validate(fast, "json") is None
    assert _norm(json.loads(fast)) == _norm(json.loads(lib))
    assert cyclonedx.validate(cyclonedx.render(pkgs, "xml", "demo", engine="lib"), "xml") is None


def test_generate_cli_lib_engine(tmp_path, fixtures):
    out = tmp_path / "lib.json"
    r = runner.invoke(sbom_app, ["generate", "--dir", str(fixtures / "npm-parity"), "-o", str(out), "--engine", "lib"])
    assert r.exit_code == 0, r.output
    assert cyclonedx.validate(out.read_text(), "json") is None


def test_generate_cli_spdx_tag_value(tmp_path, fixtures):
    out = tmp_path / "out.spdx"
    r = runner.invoke(sbom_app, ["generate", "--dir", str(fixtures / "npm-parity"), "-o", str(out), "--format", "spdx-tv"])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("SPDXVersion: SPDX-2.3") and _spdx_errors(out) == []
