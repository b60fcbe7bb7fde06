"""A power cut right after an acknowledgement loses nothing.

The store lives on an ext4 file system in a loop-mounted image file. What the
kernel has sent to that "disk" is exactly what the image file holds, so a copy
of the image taken the moment a call returns is the disk a power cut would
leave; mounting the copy replays its journal, as booting again would. The file
system is mounted with ``commit=600``: nothing reaches the disk on the 5 s
journal timer during a test, only what gitmem fsyncs.

After every acknowledged operation: the copy's branch is the acknowledged
commit, index and files match it (``git status`` clean), and ``git fsck
--strict`` is clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import gitmem
from tests.conftest import assert_clean, git

pytestmark = pytest.mark.slow

ROUNDS = 4  # captures per kind of operation


def _run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class Disk:
    """An ext4 image file mounted at ``mount``."""

    image: Path
    mount: Path
    scratch: Path

    @contextmanager
    def after_power_cut(self) -> Iterator[Path]:
        """The disk as a power cut now would leave it, mounted (journal replayed)
        read-write in place of ``mount``: yields the path standing for ``mount``."""
        copy = self.scratch / "cut.img"
        shutil.copyfile(self.image, copy)
        after = self.scratch / "after"
        after.mkdir(exist_ok=True)
        done = _run("mount", "-o", "loop", copy, after)
        assert done.returncode == 0, done.stderr
        try:
            yield after
        finally:
            _run("umount", after)
            copy.unlink()

    def survives(self, store: Path) -> None:
        """Cut the power now: the store on the copy is at the same commit, index
        and files in step, objects sound."""
        with self.after_power_cut() as after:
            acknowledged = git(store, "rev-parse", "HEAD")
            copy = after / store.relative_to(self.mount)
            assert git(copy, "rev-parse", "HEAD") == acknowledged
            assert_clean(copy)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    if os.geteuid() != 0:
        pytest.skip("power-cut tests mount a loop device, which needs root")
    if not (shutil.which("mkfs.ext4") and shutil.which("mount")):
        pytest.skip("power-cut tests need mkfs.ext4 and mount")
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    made = _run("mkfs.ext4", "-q", "-F", image)
    if made.returncode != 0:
        pytest.skip(f"cannot make an ext4 image here: {made.stderr.strip()}")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = _run("mount", "-o", "loop,commit=600", image, mount)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {done.stderr.strip()}")
    try:
        yield Disk(image, mount, tmp_path)
    finally:
        _run("umount", mount)


@pytest.fixture
def store(disk: Disk) -> Iterator[gitmem.Client]:
    with gitmem.Client.init(disk.mount / "mem") as client:
        client.blocks.create(label="notes", value="start", id="notes")
        client.agents.create(name="worker", block_ids=["notes"])
        yield client


def test_memory_tools_survive_a_power_cut(disk: Disk, store: gitmem.Client) -> None:
    memory = store.agents.memory("worker")
    for i in range(ROUNDS):
        memory.memory_insert("notes", f"line {i}")
        disk.survives(store.path)
        memory.memory_replace("notes", f"line {i}", f"done {i}")
        disk.survives(store.path)
    memory.memory_rethink("notes", "all new")
    disk.survives(store.path)
    assert git(store.path, "show", "HEAD:blocks/notes.md").endswith("---\nall new\n")


def test_creating_and_deleting_blocks_survive_a_power_cut(disk: Disk, store: gitmem.Client) -> None:
    for i in range(ROUNDS):
        store.blocks.create(label=f"topic {i}", value=f"about {i}", id=f"topics/t{i}")
        disk.survives(store.path)
    for i in range(ROUNDS):
        store.blocks.delete(f"topics/t{i}")
        disk.survives(store.path)
    assert not (store.path / "blocks" / "topics").exists()


def test_attaching_survives_a_power_cut(disk: Disk, store: gitmem.Client) -> None:
    store.blocks.create(label="shared", value="x", id="shared")
    for _ in range(ROUNDS):
        store.agents.blocks.attach("shared", agent_id="worker")
        disk.survives(store.path)
        store.agents.blocks.detach("shared", agent_id="worker")
        disk.survives(store.path)


def test_pulling_survives_a_power_cut(disk: Disk, tmp_path: Path) -> None:
    with gitmem.Client.init(tmp_path / "remote") as remote:
        remote.blocks.create(label="news", value="first", id="news")
        with gitmem.Client.clone(str(remote.path), disk.mount / "mem") as local:
            disk.survives(local.path)
            remote.blocks.update("news", value="second")
            assert local.pull().how == "fast-forward"
            disk.survives(local.path)
            for i in range(ROUNDS):
                local.blocks.create(label=f"ours {i}", value="y", id=f"ours-{i}")
                remote.blocks.create(label=f"theirs {i}", value="x", id=f"theirs-{i}")
                remote.blocks.update("news", value=f"news {i}")
                assert local.pull().how == "merge"
                disk.survives(local.path)
                assert local.blocks.retrieve("news").value == f"news {i}"


def test_gitmem_commit_survives_a_power_cut(disk: Disk, store: gitmem.Client) -> None:
    for i in range(ROUNDS):
        # A person's save, as an editor writes it: no fsync.
        block = store.path / "blocks" / f"edited-{i}.md"
        block.write_text(f"---\nlabel: edited {i}\n---\nwritten by hand {i}\n")
        (store.path / "blocks" / "notes.md").write_text(f"---\nlabel: notes\n---\nedit {i}\n")
        done = subprocess.run(
            [sys.executable, "-m", "gitmem", "-C", str(store.path), "commit"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        disk.survives(store.path)
