"""Editors' lock files and the versions gitmem replaced on disk (gitmem/git/editors.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import gitmem
from gitmem.git.editors import KEEP, Replaced, Version, is_editor_file, locked_file
from tests.conftest import git


@pytest.mark.parametrize(
    ("lock", "file"),
    [
        ("blocks/.organization.md.swp", "blocks/organization.md"),
        ("blocks/team/.notes.md.swo", "blocks/team/notes.md"),
        ("blocks/.#organization.md", "blocks/organization.md"),
        ("blocks/organization.md", None),
        ("blocks/.swp", None),
        ("blocks/.#", None),
        ("blocks/organization.md~", None),
    ],
)
def test_a_lock_file_names_the_file_it_locks(lock: str, file: str | None) -> None:
    assert locked_file(lock) == file


EDITOR_FILES = [".x.md.swp", ".x.md.swo", ".x.md.swx", "x.md~", ".#x.md", "#x.md#", "x.tmp", "4913"]


def test_editor_files_are_skipped_by_gitmem_and_ignored_by_git(client: gitmem.Client) -> None:
    names = [*EDITOR_FILES, "x.md", "notes.yaml", "x.md.orig"]
    (client.path / "blocks").mkdir()
    for name in names:
        (client.path / "blocks" / name).write_text("text\n")
    paths = [f"blocks/{name}" for name in names]
    ignored = git(client.path, "check-ignore", "--no-index", *paths, check=False)
    assert ignored.split() == [f"blocks/{name}" for name in EDITOR_FILES]
    assert [name for name in names if is_editor_file(name)] == EDITOR_FILES


def test_replaced_keeps_the_last_versions_of_each_path_newest_first(tmp_path: Path) -> None:
    replaced = Replaced(tmp_path / "replaced")
    ids = [f"{i:040x}" for i in range(3 * KEEP)]
    for sha in ids:
        replaced.add("blocks/a.md", Version(sha, saved=False))
    replaced.add("blocks/a.md", Version(ids[-2], saved=True))
    long = "blocks/" + "/".join("x" * 2 for _ in range(60)) + ".md"
    replaced.add(long, Version(ids[0], saved=False))

    kept = [ids[-2], ids[-1], *reversed(ids[-KEEP:-2])]
    assert replaced.get("blocks/a.md") == [Version(sha, sha == ids[-2]) for sha in kept]
    assert replaced.get(long) == [Version(ids[0], saved=False)]
    assert replaced.get("blocks/b.md") == []
    assert len((tmp_path / "replaced/blocks%2Fa.md").read_text().splitlines()) <= 2 * KEEP


def test_replaced_skips_what_is_not_a_blob_id(tmp_path: Path) -> None:
    replaced = Replaced(tmp_path)
    (tmp_path / "blocks%2Fa.md").write_bytes(b"garbage\n\xff\n" + b"a" * 40 + b" saved\n")
    assert replaced.get("blocks/a.md") == [Version("a" * 40, saved=True)]
