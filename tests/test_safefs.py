"""Reading the working tree without following links, on a real file system."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitmem.git import safefs


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../x",
        "blocks/../../x",
        "/etc/passwd",
        "blocks//x.md",
        "blocks/./x.md",
        ".git/config",
        "blocks/.GIT/x",
        "a\\b",
        "a\nb",
        "bad\udcffname",
        "",
    ],
)
def test_paths_that_leave_the_store_or_enter_git_are_not_safe(path: str) -> None:
    assert not safefs.is_safe(path)


def test_store_paths_are_safe() -> None:
    assert safefs.is_safe("blocks/worker/persona.md")
    assert safefs.is_safe("agents/a.b-c_d.yaml")


def test_read_refuses_links_special_files_and_huge_files(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "blocks").mkdir(parents=True)
    (tmp_path / "outside.md").write_text("outside")
    (root / "blocks/ok.md").write_text("ok")
    os.symlink(tmp_path / "outside.md", root / "blocks/link.md")
    os.symlink(tmp_path, root / "blocks/dir")
    os.mkfifo(root / "blocks/fifo.md")
    (root / "blocks/big.md").write_bytes(b"x" * 11)

    assert safefs.read(root, "blocks/ok.md", 10) == b"ok"
    assert safefs.read(root, "blocks/none.md", 10) is None
    for path, reason in [
        ("blocks/link.md", safefs.SYMLINK),
        ("blocks/dir/outside.md", f"blocks/dir {safefs.SYMLINK}"),
        ("blocks/fifo.md", "is not a regular file (a device, FIFO or socket)"),
        ("blocks/big.md", "is larger than 10 bytes, more than any store file may be"),
        ("blocks/ok.md/x.md", "blocks/ok.md is a file, not a directory"),
        ("../outside.md", "is not a path inside the store"),
    ]:
        with pytest.raises(safefs.Refused) as refused:
            safefs.read(root, path, 10)
        assert refused.value.reason == reason
        assert str(refused.value) == f"{path}:1: {reason}"


def test_walk_does_not_enter_linked_directories(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "blocks/a").mkdir(parents=True)
    (root / "blocks/a/x.md").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/secret.md").write_text("s")
    os.symlink(tmp_path / "elsewhere", root / "blocks/linked")
    found = [path for path, _ in safefs.walk(root, "blocks")]
    assert found == ["blocks/a/x.md", "blocks/linked"]
    assert list(safefs.walk(root, "agents")) == []


@pytest.mark.parametrize("durable", [False, True])
def test_replace_file_puts_the_whole_file_in_place_and_leaves_no_temporary(
    tmp_path: Path, durable: bool
) -> None:
    where = tmp_path / "files"
    where.mkdir()
    target = where / "cursor"
    target.write_bytes(b"old\n")
    safefs.replace_file(target, b"new\n", durable=durable)
    safefs.replace_file(where / "fresh", b"made\n", tmp=where / "tmp-1", durable=durable)
    assert target.read_bytes() == b"new\n"
    assert (where / "fresh").read_bytes() == b"made\n"
    assert sorted(p.name for p in where.iterdir()) == ["cursor", "fresh"]


def test_replace_file_private_is_for_this_user_only(tmp_path: Path) -> None:
    old = os.umask(0)  # the most a umask lets others have
    try:
        safefs.replace_file(tmp_path / "secret", b"x", private=True)
        safefs.replace_file(tmp_path / "shared", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o666
