"""The working tree next to the index and the branch, as git sees it: which files
a person changed on disk, and what a commit of the index would change.

Git's names are bytes; they become ``str`` as the file system's names do
(``os.fsdecode``), so a name that is not UTF-8 is kept, never a crash.

A file is trusted to be unchanged when its stat matches its index entry (as
git does), unless it was written in the same instant as the index ("racily
clean"): then it is read and hashed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dulwich.objects import ObjectID

from gitmem.git import safefs
from gitmem.git.checkout import disk_blob_id
from gitmem.git.index import Staged
from gitmem.git.objects import object_id
from gitmem.git.repo import GitRepo
from gitmem.git.tree import DIR_MODE, tree_raw


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
    index_file = repo.gitdir / "index"
    index = repo.read_index(index_file)
    try:
        index_time = os.stat(index_file).st_mtime_ns
    except FileNotFoundError:
        index_time = 0
    head: dict[str, str | None]
    if paths is None:
        inside = tuple(f"{d}/" for d in dirs)
        everything = {os.fsdecode(n): e for n, e in index.staged()}
        staged = {p: e for p, e in everything.items() if p.startswith(inside)}
        head = {p: e.sha for p, e in staged.items() if e is not None}
        diff = index_vs_head(repo, everything)
        head.update((p, was) for p, (_, was) in diff.items() if p.startswith(inside))
        wanted = set(staged) | {p for p, sha in head.items() if sha is not None}
        new = (p for p in _files_on_disk(repo.root, dirs) if p not in wanted and untracked(p))
        wanted.update(new)
    else:
        wanted = set(paths)
        known = (p for p in wanted if index.conflicted(os.fsencode(p)) or index.sha(os.fsencode(p)))
        staged = {p: index.entry(os.fsencode(p)) for p in known}
        snap = repo.snapshot()
        head = {p: snap.blob_id(p) for p in wanted}
    return [
        _state(repo, path, head.get(path), path in staged, staged.get(path), index_time)
        for path in sorted(wanted)
    ]


def _state(
    repo: GitRepo, path: str, head: str | None, known: bool, entry: Staged | None, index_time: int
) -> FileState:
    def disk_id() -> str | None:
        return disk_blob_id(repo.root, path, repo.max_file)

    full = os.path.join(repo.root, path)
    if known and entry is None:
        return FileState(path, head, None, disk_id(), conflicted=True)
    if entry is None:
        return FileState(path, head, None, disk_id())
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return FileState(path, head, entry.sha, None)
    racy = entry.mtime[0] * 1_000_000_000 + entry.mtime[1] >= index_time
    unchanged = entry.same_stat(st) and not racy and stat.S_ISREG(st.st_mode)
    disk = entry.sha if unchanged else disk_id()
    return FileState(path, head, entry.sha, disk)


def _files_on_disk(root: Path, dirs: tuple[str, ...]) -> Iterator[str]:
    """Everything but directories under ``dirs``, outside hidden directories."""
    for top in dirs:
        for path, mode in safefs.walk(root, top):
            inner = path.split("/")[1:-1]
            if path != top and not stat.S_ISDIR(mode) and not any(p[0] == "." for p in inner):
                yield path


def staged_changes(repo: GitRepo, index_file: Path) -> dict[str, Staged | None]:
    """What committing the index at ``index_file`` would change on the branch:
    the staged entry of every path that differs from the head (None: removed)."""
    index = {os.fsdecode(name): entry for name, entry in repo.read_index(index_file).staged()}
    return {
        path: index.get(path) if staged else None
        for path, (staged, _) in index_vs_head(repo, index).items()
    }


def index_vs_head(
    repo: GitRepo, staged: Mapping[str, Staged | None]
) -> dict[str, tuple[str | None, str | None]]:
    """Every path where the index (``staged``: every entry, None for an unresolved
    merge) and the branch head differ: (staged, head) blob ids, None for no file.

    Like git's cache-tree: the tree each index directory would make is hashed
    and compared with the head's, so only the directories that differ are read.
    """
    ids = _tree_ids(staged)
    snap = repo.snapshot()
    root = object_id(b"tree", snap.tree.raw()).decode() if snap.commit else None
    head: dict[str, str] = {}  # the files of the head directories that differ
    modes: dict[str, int] = {}  # their modes: a mode alone can change (chmod +x)
    same: set[str] = set()  # directories whose trees are identical
    walked: set[str] = set()
    pending = [("", snap.tree, root)]
    while pending:
        directory, tree, tree_id = pending.pop()
        if tree_id is not None and ids.get(directory) == tree_id:
            same.add(directory)
            continue
        walked.add(directory)
        for item in tree:
            path = f"{directory}/{os.fsdecode(item.name)}".lstrip("/")
            if item.is_dir:
                pending.append((path, repo.tree(item.sha), item.sha.decode()))
            else:
                head[path] = item.sha.decode()
                modes[path] = item.mode

    def unchanged(path: str) -> bool:
        directory = path.rpartition("/")[0]
        while directory not in walked:
            if directory in same:
                return True
            directory = directory.rpartition("/")[0]
        return False

    changes: dict[str, tuple[str | None, str | None]] = {}
    for path, entry in staged.items():
        sha = entry.sha if entry else None
        mode = modes.get(path)
        was = head.pop(path, None)
        if (was != sha or entry is None or entry.mode != mode) and not unchanged(path):
            changes[path] = (sha, was)
    changes.update((path, (None, sha)) for path, sha in head.items())
    return changes


def _tree_ids(staged: Mapping[str, Staged | None]) -> dict[str, str | None]:
    """The id of the tree each directory of the index would make ("": the top);
    None for a directory holding an unresolved merge."""
    entries: dict[str, dict[bytes, tuple[int, ObjectID]]] = {"": {}}
    unknown: set[str] = set()
    for path, entry in staged.items():
        directory, _, name = path.rpartition("/")
        above = directory
        while above not in entries:
            entries[above] = {}
            above = above.rpartition("/")[0]
        if entry is None:
            unknown.add(directory)
        else:
            entries[directory][os.fsencode(name)] = (entry.mode, ObjectID(entry.sha.encode()))
    ids: dict[str, str | None] = {}
    for directory in sorted(entries, key=lambda d: d.count("/") + bool(d), reverse=True):
        tree_id = None
        if directory not in unknown:
            tree_id = object_id(b"tree", tree_raw(entries[directory]))
        ids[directory] = None if tree_id is None else tree_id.decode()
        if directory:
            parent, _, name = directory.rpartition("/")
            if tree_id is None:
                unknown.add(parent)
            else:
                entries[parent][os.fsencode(name)] = (DIR_MODE, tree_id)
    return ids
