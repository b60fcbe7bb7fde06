"""Full disks: an operation is either reported done (its checkout finished, or
finished by the next operation) or not done at all."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gitmem
from tests.conftest import assert_clean, git

PAGE = 4096


def _gitmem(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gitmem", "-C", str(store), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: a file system that really fills up."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _fill(mount: Path, leave_pages: int) -> Path:
    """Fill the file system at ``mount`` but ``leave_pages`` pages."""
    st = os.statvfs(mount)
    filler = mount / "filler"
    filler.write_bytes(b"\0" * ((st.f_bavail - leave_pages) * st.f_frsize))
    assert os.statvfs(mount).f_bavail == leave_pages
    return filler


def test_a_disk_full_after_the_branch_moved_is_done_and_the_next_operation_checks_out(
    small_fs: Path,
) -> None:
    store = small_fs / "mem"
    with gitmem.Client.init(store) as client:
        client.blocks.create(label="big", value="x" * 19_000, id="big")
    old = git(store, "rev-parse", "HEAD")
    # Room for the lock record, the new objects (a few bytes each: the value
    # compresses) and the ref, not for the 19 KB file the checkout writes.
    filler = _fill(small_fs, leave_pages=7)

    done = _gitmem(store, "blocks", "update", "big", "--value", "y" * 19_000)

    assert (done.returncode, done.stderr) == (0, "")
    assert git(store, "rev-parse", "HEAD") != old
    assert git(store, "show", "HEAD:blocks/big.md").endswith("y" * 19_000 + "\n")
    assert (store / "blocks" / "big.md").read_text().endswith("x" * 19_000 + "\n")  # not yet
    # Space comes back; the next operation finishes the checkout first.
    filler.unlink()
    done = _gitmem(store, "blocks", "create", "--label", "small", "--value", "s")
    assert done.returncode == 0, done.stderr
    assert (store / "blocks" / "big.md").read_text().endswith("y" * 19_000 + "\n")
    assert_clean(store)
    assert not list((store / ".git" / "gitmem").glob("tmp-*"))
