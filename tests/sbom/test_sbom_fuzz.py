"""Bad input never crashes a parser: any document gives packages or a LockfileError, nothing else."""

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironpost.sbom.lockfiles import BY_FILENAME, parse_file
from ironpost.sbom.model import LockfileError

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "1.0.0", "==1.0", "^1", "npm:x@1", "a", "link:../x", "/a/1.0.0", "sha512-AAAA"]))
KEYS = st.sampled_from(["", "name", "version", "packages", "dependencies", "node_modules/a", "node_modules/a/node_modules/b",
                        "lockfileVersion", "requires", "integrity", "default", "develop", "importers", "snapshots", ".",
                        "a@1.0.0", "/a/1.0.0", "/a@1.0.0", "link", "resolved", "dev", "hashes", "package", "source"])
DOCS = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)
SETTINGS = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(path):
    try:
        out = parse_file(path)
    except LockfileError:
        return
    assert isinstance(out, list)


@SETTINGS
@given(doc=DOCS, lv=st.sampled_from([1, 2, 3, None]), name=st.sampled_from(["package-lock.json", "Pipfile.lock"]))
def test_json_lockfiles(tmp_path, doc, lv, name):
    if isinstance(doc, dict) and lv is not None:
        doc["lockfileVersion"] = lv
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    check(p)


@SETTINGS
@given(doc=DOCS, name=st.sampled_from(["pnpm-lock.yaml", "yarn.lock"]), ver=st.sampled_from(["5.4", "6.0", "9.0"]))
def test_yaml_lockfiles(tmp_path, doc, name, ver):
    if isinstance(doc, dict):
        doc = dict(doc)
        if name == "pnpm-lock.yaml":
            doc["lockfileVersion"] = ver
        else:
            doc["__metadata"] = {"version": 6}
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    check(p)


LINES = st.sampled_from(['version = 3', '[[package]]', 'name = "a"', 'version = "1.0.0"', 'dependencies = ["a", "b 1.0"]',
                         'source = "registry+x"', '[metadata]', 'files = []', '[package.dependencies]', 'a = "*"', 'module x',
                         'require a v1.0.0', 'require (', ')', 'a==1.0', '# via b', 'a@^1:', '  version "1.0.0"', '  dependencies:',
                         '    b "^1"', 'x', '[', '"', '=', '   ', 'replace a => b v1', '--hash=sha256:00'])


@SETTINGS
@given(lines=st.lists(LINES, max_size=14), name=st.sampled_from(sorted(set(BY_FILENAME) - {"package-lock.json", "npm-shrinkwrap.json", "Pipfile.lock", "pnpm-lock.yaml"})))
def test_text_lockfiles(tmp_path, lines, name):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    check(p)
