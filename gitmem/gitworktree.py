"""The working tree next to the index and the branch, as git sees it: which files
a person changed on disk, and what a commit of the index would change.

A file is trusted to be unchanged when its stat matches its index entry (as
git does), unless it was written in the same instant as the index ("racily
clean"): then it is read and hashed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gitmem.gitindex import Staged
from gitmem.repo import GitRepo, Snapshot, disk_blob_id


@dataclass(frozen=True)
class FileState:
    """One path on the branch, in the index and on disk (blob ids; None: no file)."""

    path: str
    head: str | None
    staged: str | None
    disk: str | None
    conflicted: bool = False  # the index holds an unresolved merge of this path

    @property
    def changed(self) -> bool:
        return self.conflicted or self.disk != self.head


def file_states(
    repo: GitRepo,
    dirs: tuple[str, ...],
    paths: Iterable[str] | None = None,
    untracked: Callable[[str], bool] = lambda path: True,
) -> list[FileState]:
    """Every path under ``dirs`` (or just ``paths``) that the branch, the index
    or the disk has; files on disk that git does not know are included when
    ``untracked(path)`` says so (editors leave temp files next to blocks)."""
    snap = repo.snapshot()
    index_file = repo.gitdir / "index"
    index = repo.read_index(index_file)
    try:
        index_time = os.stat(index_file).st_mtime_ns
    except FileNotFoundError:
        index_time = 0
    inside = tuple(d + "/" for d in dirs)
    staged = {
        name.decode(): entry for name, entry in index.staged() if name.decode().startswith(inside)
    }
    if paths is None:
        wanted = set(staged)
        wanted.update(p for d in dirs for p, _ in snap.files(d))
        new = (p for p in _files_on_disk(repo.root, dirs) if p not in wanted and untracked(p))
        wanted.update(new)
    else:
        wanted = set(paths)
    return [
        _state(repo.root, snap, path, path in staged, staged.get(path), index_time)
        for path in sorted(wanted)
    ]


def _state(
    root: Path, snap: Snapshot, path: str, known: bool, entry: Staged | None, index_time: int
) -> FileState:
    head = snap.blob_id(path)
    full = root / path
    if known and entry is None:
        return FileState(path, head, None, disk_blob_id(full), conflicted=True)
    if entry is None:
        return FileState(path, head, None, disk_blob_id(full))
    try:
        st = full.lstat()
    except FileNotFoundError:
        return FileState(path, head, entry.sha, None)
    racy = entry.mtime[0] * 1_000_000_000 + entry.mtime[1] >= index_time
    unchanged = entry.same_stat(st) and not racy and not full.is_symlink()
    disk = entry.sha if unchanged else disk_blob_id(full)
    return FileState(path, head, entry.sha, disk)


def _files_on_disk(root: Path, dirs: tuple[str, ...]) -> Iterator[str]:
    for top in dirs:
        for here, subdirs, names in os.walk(root / top):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            rel = Path(here).relative_to(root).as_posix()
            yield from (f"{rel}/{name}" for name in names)


def staged_changes(repo: GitRepo, index_file: Path) -> dict[str, str | None]:
    """What committing the index at ``index_file`` would change on the branch:
    the staged blob id of every path that differs from the head (None: removed)."""
    snap = repo.snapshot()
    head: dict[str, str] = {}
    for item in snap.tree:
        name = item.name.decode()
        if item.is_dir:
            head.update(snap.files(name))
        else:
            head[name] = item.sha.decode()
    changes: dict[str, str | None] = {}
    for raw, entry in repo.read_index(index_file).staged():
        path = raw.decode()
        sha = entry.sha if entry else None  # None: unmerged, which git refuses to commit
        if head.pop(path, None) != sha:
            changes[path] = sha
    changes.update(dict.fromkeys(head))  # in the head, not in the index: removed
    return changes
