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


def test_symlinks_leaving_the_scan_dir_are_not_followed(tmp_path):
    secret = tmp_path / "root-only"
    (secret / "proj").mkdir(parents=True)
    (secret / "proj" / "Cargo.lock").write_text("")
    (secret / "package-lock.json").write_text("")
    scan = tmp_path / "scan"
    (scan / "app").mkdir(parents=True)
    (scan / "app" / "Cargo.lock").write_text("")
    os.symlink(secret, scan / "evil-dir")  # a planted link to a directory outside
    os.symlink(secret / "package-lock.json", scan / "app" / "package-lock.json")  # and to a file outside
    os.symlink(scan / "app", scan / "inside")  # a link that stays inside is fine
    stats = {}
    found = discover([scan], stats=stats)
    assert [p.relative_to(scan).as_posix() for p in found] == ["app/Cargo.lock"]
    assert stats["symlinks_outside"] == 2


def test_depth_and_file_count_are_bounded(tmp_path):
    deep = tmp_path
    for i in range(12):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "Cargo.lock").write_text("")
    stats = {}
    assert discover([tmp_path], max_depth=5, stats=stats) == [] and stats["too_deep"] == 1
    assert discover([tmp_path], max_depth=12) == [deep / "Cargo.lock"]
    for i in range(30):
        (tmp_path / f"p{i:02d}").mkdir()
        (tmp_path / f"p{i:02d}" / "Cargo.lock").write_text("")
    stats = {}
    assert len(discover([tmp_path], max_files=10, stats=stats)) == 10 and stats["over_file_limit"] == 21
