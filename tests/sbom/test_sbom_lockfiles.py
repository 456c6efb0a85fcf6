"""Lockfile parsers: every supported format version, malformed input and limits."""

import json

import pytest

from ironpost.sbom import model
from ironpost.sbom.lockfiles import parse_file
from ironpost.sbom.model import LockfileError

CRATES = "registry+https://github.com/rust-lang/crates.io-index"
SUM = "a" * 64

CARGO_V1 = f'''[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "serde 1.0.100 ({CRATES})",
 "smallvec 0.6.9 ({CRATES})",
]

[[package]]
name = "serde"
version = "1.0.100"
source = "{CRATES}"

[[package]]
name = "smallvec"
version = "0.6.9"
source = "{CRATES}"
dependencies = [
 "serde 1.0.100 ({CRATES})",
]

[metadata]
"checksum serde 1.0.100 ({CRATES})" = "{SUM}"
'''

CARGO_V3 = f'''version = 3

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "rand 0.7.3",
 "rand 0.8.5",
]

[[package]]
name = "rand"
version = "0.7.3"
source = "{CRATES}"
checksum = "{SUM}"

[[package]]
name = "rand"
version = "0.8.5"
source = "{CRATES}"
checksum = "{"b" * 64}"
dependencies = [
 "libc",
]

[[package]]
name = "libc"
version = "0.2.150"
source = "{CRATES}"
'''


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def by_name(pkgs):
    return {(p.name, p.version): p for p in pkgs}


def test_cargo_v1_metadata_checksums_and_edges(tmp_path):
    pkgs = by_name(parse_file(write(tmp_path, "Cargo.lock", CARGO_V1)))
    assert set(pkgs) == {("app", "0.1.0"), ("serde", "1.0.100"), ("smallvec", "0.6.9")}
    app, serde, sv = pkgs["app", "0.1.0"], pkgs["serde", "1.0.100"], pkgs["smallvec", "0.6.9"]
    assert app.local and not serde.local
    assert serde.hashes == {"SHA-256": SUM} and sv.hashes == {}
    assert set(app.dependencies) == {"pkg:cargo/serde@1.0.100", "pkg:cargo/smallvec@0.6.9"}
    assert sv.dependencies == ["pkg:cargo/serde@1.0.100"]
    assert serde.direct and sv.direct
    assert serde.purl == "pkg:cargo/serde@1.0.100" and serde.ecosystem == "crates.io"


@pytest.mark.parametrize("version", [3, 4])
def test_cargo_v3_v4_two_versions_of_one_crate(tmp_path, version):
    pkgs = by_name(parse_file(write(tmp_path, "Cargo.lock", CARGO_V3.replace("version = 3", f"version = {version}"))))
    assert set(pkgs["app", "0.1.0"].dependencies) == {"pkg:cargo/rand@0.7.3", "pkg:cargo/rand@0.8.5"}
    assert pkgs["rand", "0.8.5"].dependencies == ["pkg:cargo/libc@0.2.150"]
    assert pkgs["rand", "0.8.5"].hashes["SHA-256"] == "b" * 64
    assert not pkgs["libc", "0.2.150"].direct and pkgs["rand", "0.7.3"].direct


def test_cargo_invalid_toml_reports_line(tmp_path):
    p = write(tmp_path, "Cargo.lock", 'version = 3\n\n[[package]\nname = "x"\n')
    with pytest.raises(LockfileError) as ei:
        parse_file(p)
    assert ei.value.line == 3 and "invalid TOML" in str(ei.value) and str(p) in str(ei.value)


def test_cargo_missing_version_points_at_package(tmp_path):
    p = write(tmp_path, "Cargo.lock", 'version = 3\n\n[[package]]\nname = "a"\nversion = "1.0.0"\n\n[[package]]\nname = "b"\n')
    with pytest.raises(LockfileError) as ei:
        parse_file(p)
    assert ei.value.line == 7 and "version of b" in str(ei.value)


def test_cargo_unknown_dependency_and_version(tmp_path):
    p = write(tmp_path, "Cargo.lock", 'version = 3\n\n[[package]]\nname = "a"\nversion = "1.0.0"\ndependencies = ["ghost"]\n')
    with pytest.raises(LockfileError, match="ghost"):
        parse_file(p)
    with pytest.raises(LockfileError, match="unsupported Cargo.lock version 9"):
        parse_file(write(tmp_path, "Cargo.lock", "version = 9\n"))


NPM_V1 = {
    "name": "v1app", "version": "1.0.0", "lockfileVersion": 1, "requires": True,
    "dependencies": {
        "express": {"version": "4.17.1", "integrity": "sha1-2d1c3UU6RUP/LaWn8nOMYLQPh5M=",
                    "requires": {"debug": "2.6.9"},
                    "dependencies": {"debug": {"version": "2.6.9", "requires": {"ms": "2.0.0"}}}},
        "debug": {"version": "4.3.4", "dev": True, "requires": {"ms": "2.1.2"}},
        "ms": {"version": "2.1.2"},
        "alias": {"version": "npm:lodash@4.17.20"},
    },
}


def test_npm_v1_nested_tree_aliases_and_direct(tmp_path):
    lock = write(tmp_path, "package-lock.json", json.dumps(NPM_V1))
    write(tmp_path, "package.json", json.dumps({"dependencies": {"express": "^4"}, "devDependencies": {"debug": "4", "alias": "npm:lodash@4"}}))
    pkgs = by_name(parse_file(lock))
    assert ("debug", "2.6.9") in pkgs and ("debug", "4.3.4") in pkgs and ("lodash", "4.17.20") in pkgs
    assert pkgs["express", "4.17.1"].dependencies == ["pkg:npm/debug@2.6.9"]  # nested copy wins over the hoisted one
    assert pkgs["debug", "2.6.9"].dependencies == ["pkg:npm/ms@2.1.2"]  # resolved up the tree
    assert pkgs["express", "4.17.1"].hashes == {"SHA-1": "d9dd5cdd453a4543ff2da5a7f2738c60b40f8793"}
    assert pkgs["express", "4.17.1"].direct and pkgs["debug", "4.3.4"].direct and not pkgs["ms", "2.1.2"].direct
    assert pkgs["debug", "4.3.4"].scope == "optional"
    root = pkgs["v1app", "1.0.0"]
    assert root.local and set(root.dependencies) >= {"pkg:npm/express@4.17.1", "pkg:npm/lodash@4.17.20"}


def test_npm_v1_without_package_json_guesses_direct(tmp_path):
    pkgs = by_name(parse_file(write(tmp_path, "package-lock.json", json.dumps(NPM_V1))))
    assert pkgs["express", "4.17.1"].direct and not pkgs["ms", "2.1.2"].direct


NPM_V2 = {
    "name": "v2app", "version": "2.0.0", "lockfileVersion": 2,
    "packages": {
        "": {"name": "v2app", "version": "2.0.0", "dependencies": {"@scope/a": "^1.0.0", "ws-pkg": "*"}, "devDependencies": {"b": "1"}},
        "node_modules/@scope/a": {"version": "1.0.0", "integrity": "sha512-" + "A" * 86 + "==", "dependencies": {"b": "^2", "c": "1"}},
        "node_modules/@scope/a/node_modules/b": {"version": "2.0.0"},
        "node_modules/b": {"version": "1.0.0", "dev": True, "dependencies": {"c": "1"}},
        "node_modules/c": {"version": "1.0.0", "optionalDependencies": {"missing": "1"}},
        "node_modules/ws-pkg": {"resolved": "packages/ws-pkg", "link": True},
        "packages/ws-pkg": {"name": "ws-pkg", "version": "0.0.1", "dependencies": {"c": "1"}},
        "node_modules/real": {"name": "lodash", "version": "4.17.21"},
    },
    "dependencies": {"ignored-in-v2": {"version": "9.9.9"}},
}


@pytest.mark.parametrize("lv, fname", [(2, "package-lock.json"), (3, "package-lock.json"), (3, "npm-shrinkwrap.json")])
def test_npm_packages_format(tmp_path, lv, fname):
    doc = dict(NPM_V2, lockfileVersion=lv)
    pkgs = by_name(parse_file(write(tmp_path, fname, json.dumps(doc))))
    a = pkgs["@scope/a", "1.0.0"]
    assert a.purl == "pkg:npm/%40scope/a@1.0.0"
    assert set(a.dependencies) == {"pkg:npm/b@2.0.0", "pkg:npm/c@1.0.0"}
    assert list(a.hashes) == ["SHA-512"] and len(a.hashes["SHA-512"]) == 128
    assert a.direct and pkgs["b", "1.0.0"].direct and not pkgs["b", "2.0.0"].direct
    assert pkgs["b", "1.0.0"].scope == "optional" and a.scope == "required"
    assert pkgs["ws-pkg", "0.0.1"].local and pkgs["ws-pkg", "0.0.1"].dependencies == ["pkg:npm/c@1.0.0"]
    assert "pkg:npm/ws-pkg@0.0.1" in pkgs["v2app", "2.0.0"].dependencies
    assert ("lodash", "4.17.21") in pkgs and ("ignored-in-v2", "9.9.9") not in pkgs


def test_npm_dedupes_same_version_at_two_paths(tmp_path):
    doc = {"lockfileVersion": 3, "packages": {"": {"dependencies": {"a": "1", "b": "1"}},
           "node_modules/a": {"version": "1.0.0", "dependencies": {"x": "1"}},
           "node_modules/a/node_modules/x": {"version": "1.0.0"},
           "node_modules/b": {"version": "1.0.0", "dependencies": {"x": "1"}},
           "node_modules/b/node_modules/x": {"version": "1.0.0"}}}
    pkgs = parse_file(write(tmp_path, "package-lock.json", json.dumps(doc)))
    assert sorted(p.purl for p in pkgs if not p.local) == ["pkg:npm/a@1.0.0", "pkg:npm/b@1.0.0", "pkg:npm/x@1.0.0"]


def test_npm_malformed_json_reports_line(tmp_path):
    p = write(tmp_path, "package-lock.json", '{\n  "lockfileVersion": 3,\n  "packages": {\n    "node_modules/a": {"version": }\n  }\n}\n')
    with pytest.raises(LockfileError) as ei:
        parse_file(p)
    assert ei.value.line == 4 and "invalid JSON" in str(ei.value) and f"{p}:4" in str(ei.value)


def test_npm_wrong_shapes(tmp_path):
    with pytest.raises(LockfileError, match="lockfileVersion 7"):
        parse_file(write(tmp_path, "package-lock.json", '{"lockfileVersion": 7}'))
    with pytest.raises(LockfileError, match="must be an object"):
        parse_file(write(tmp_path, "package-lock.json", '{"lockfileVersion": 3, "packages": {"node_modules/a": 5}}'))
    with pytest.raises(LockfileError, match="table/object"):
        parse_file(write(tmp_path, "package-lock.json", "[1, 2]"))


def test_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(model, "MAX_FILE_BYTES", 100)
    p = write(tmp_path, "Cargo.lock", "# " + "x" * 200)
    with pytest.raises(LockfileError, match="over the 100 byte limit"):
        parse_file(p)


def test_real_size_limit_is_10_mb(tmp_path):
    p = tmp_path / "package-lock.json"
    with open(p, "wb") as f:
        f.truncate(10 * 1024 * 1024 + 1)
    with pytest.raises(LockfileError, match="10485760 byte limit"):
        parse_file(p)


def test_package_count_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(model, "MAX_PACKAGES", 3)
    doc = {"lockfileVersion": 3, "packages": {f"node_modules/p{i}": {"version": "1.0.0"} for i in range(5)}}
    with pytest.raises(LockfileError, match="over the limit of 3"):
        parse_file(write(tmp_path, "package-lock.json", json.dumps(doc)))
    cargo = "version = 3\n" + "".join(f'\n[[package]]\nname = "p{i}"\nversion = "1.0.0"\n' for i in range(5))
    with pytest.raises(LockfileError, match="5 packages, over the limit of 3"):
        parse_file(write(tmp_path, "Cargo.lock", cargo))


def test_invalid_utf8_reports_line(tmp_path):
    p = tmp_path / "Cargo.lock"
    p.write_bytes(b'version = 3\n\n[[package]]\nname = "\xff"\n')
    with pytest.raises(LockfileError) as ei:
        parse_file(p)
    assert ei.value.line == 4 and "UTF-8" in str(ei.value)


def test_parity_fixture_parses(fixtures):
    pkgs = parse_file(fixtures / "npm-parity" / "package-lock.json")
    names = {p.name for p in pkgs}
    assert {"express", "lodash", "minimist", "@babel/code-frame", "semver"} <= names
    direct = {p.name for p in pkgs if p.direct and not p.local}
    assert direct == {"express", "lodash", "minimist", "@babel/code-frame", "debug", "semver"}


def _summary(pkgs):
    return sorted((p.name, p.version, p.purl, tuple(sorted(p.hashes.items())), tuple(p.dependencies), p.direct, p.local) for p in pkgs)


@pytest.mark.parametrize("text", [CARGO_V1, CARGO_V3, CARGO_V3.replace("version = 3", "version = 4")])
def test_cargo_fast_reader_agrees_with_tomllib(tmp_path, text):
    """The line reader for cargo's own layout and the tomllib path (forced by CRLF) give the same packages."""
    fast = parse_file(write(tmp_path, "Cargo.lock", text))
    (tmp_path / "crlf").mkdir()
    slow_path = tmp_path / "crlf" / "Cargo.lock"
    slow_path.write_bytes(text.replace("\n", "\r\n").encode())
    slow = parse_file(slow_path)
    assert _summary(fast) == _summary(slow)
    for a, b in zip(sorted(fast, key=lambda p: p.purl), sorted(slow, key=lambda p: p.purl)):
        a.lockfile = b.lockfile
        assert a == b


def test_cargo_fast_reader_agrees_on_generated_files(tmp_path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    names = st.text(alphabet="abcdefgh_-", min_size=1, max_size=6)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(names, st.sampled_from(["0.1.0", "1.0.0-rc.1", "2.3.4"]), st.booleans(), st.booleans()),
                    min_size=1, max_size=12, unique_by=lambda t: (t[0], t[1])))
    def check(entries):
        body = "# This file is automatically @generated by Cargo.\nversion = 3\n"
        for i, (name, ver, has_src, has_dep) in enumerate(entries):
            body += f'\n[[package]]\nname = "{name}"\nversion = "{ver}"\n'
            if has_src:
                body += f'source = "{CRATES}"\nchecksum = "{"%064x" % i}"\n'
            if has_dep and i + 1 < len(entries):
                body += f'dependencies = [\n "{entries[i + 1][0]} {entries[i + 1][1]}",\n]\n'
        a = tmp_path / "Cargo.lock"
        a.write_text(body)
        b = tmp_path / "b" / "Cargo.lock"
        b.parent.mkdir(exist_ok=True)
        b.write_bytes(body.replace("\n", "\r\n").encode())
        assert _summary(parse_file(a)) == _summary(parse_file(b))

    check()
