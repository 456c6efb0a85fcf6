import os

from ironpost.sbom.discovery import discover


def test_finds_lockfiles_and_skips_vendored_trees(tmp_path):
    for rel in ["a/Cargo.lock", "a/target/debug/Cargo.lock", "b/package-lock.json", "b/node_modules/x/package-lock.json",
                "c/.git/Cargo.lock", "c/.venv/npm-shrinkwrap.json", "c/npm-shrinkwrap.json", "d/README.md", "e/skip/Cargo.lock"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")
    found = {p.relative_to(tmp_path).as_posix() for p in discover([tmp_path], exclude=["*/e/skip"])}
    assert found == {"a/Cargo.lock", "b/package-lock.json", "c/npm-shrinkwrap.json"}


def test_symlink_loops_terminate_and_files_are_found_once(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "Cargo.lock").write_text("")
    os.symlink(tmp_path, tmp_path / "p" / "loop")  # points back up
    os.symlink(tmp_path / "p", tmp_path / "alias")  # same directory twice
    os.symlink(tmp_path / "missing", tmp_path / "dangling")
    found = discover([tmp_path, tmp_path / "p"])
    assert [p.name for p in found] == ["Cargo.lock"]


def test_exclude_by_basename_and_single_file(tmp_path):
    (tmp_path / "Cargo.lock").write_text("")
    (tmp_path / "package-lock.json").write_text("")
    assert [p.name for p in discover([tmp_path], exclude=["package-lock.json"])] == ["Cargo.lock"]
    assert discover([tmp_path / "Cargo.lock"]) == [tmp_path / "Cargo.lock"]
    assert discover([tmp_path / "nope"]) == []


def test_exclude_relative_to_scan_dir(tmp_path):
    for rel in ["vendor/x/Cargo.lock", "app/Cargo.lock"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path], exclude=["vendor"])] == ["app/Cargo.lock"]
