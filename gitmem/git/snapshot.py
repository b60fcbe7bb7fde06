"""The store's files as of one commit, read from its trees, and which files
differ between two commits."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dulwich.objects import ObjectID

from gitmem.git.tree import RawTree, TreeRecord, diff_trees

if TYPE_CHECKING:
    from gitmem.git.repo import GitRepo


class Snapshot:
    """The store's files as of one commit (``commit`` is None in an empty repository)."""

    def __init__(self, repo: GitRepo, commit: ObjectID | None, tree: RawTree) -> None:
        self.repo = repo
        self.commit = commit
        self.tree = tree

    def _entry_tree(self, parts: list[bytes]) -> RawTree | None:
        tree = self.tree
        for part in parts:
            entry = tree.get(part)
            if entry is None or not entry.is_dir:
                return None
            tree = self.repo.tree(entry.sha)
        return tree

    def blob_id(self, path: str) -> str | None:
        """The blob id of the regular file ``path`` (a link or submodule there is no file)."""
        *dirs, name = path.encode().split(b"/")
        tree = self._entry_tree(dirs)
        entry = tree.get(name) if tree else None
        return entry.sha.decode() if entry is not None and entry.is_file else None

    def read(self, path: str) -> bytes | None:
        sha = self.blob_id(path)
        return None if sha is None else self.repo.blob(sha)

    def files(self, directory: str) -> Iterator[tuple[str, str]]:
        """(path, blob id) of every regular file under ``directory``, in path order."""
        for path, mode, sha in self.entries(directory):
            if stat.S_ISREG(mode):
                yield path, sha

    def entries(self, directory: str) -> Iterator[tuple[str, int, str]]:
        """(path, mode, object id) of everything under ``directory`` but directories;
        ``directory`` itself if it is not one."""
        *dirs, name = directory.encode().split(b"/")
        parent = self._entry_tree(dirs)
        entry = parent.get(name) if parent else None
        if entry is None:
            return
        if entry.is_dir:
            yield from self._walk(self.repo.tree(entry.sha), directory)
        else:
            yield directory, entry.mode, entry.sha.decode()

    def _walk(self, tree: RawTree, prefix: str) -> Iterator[tuple[str, int, str]]:
        for entry in tree:
            path = f"{prefix}/{entry.name.decode(errors='surrogateescape')}"
            if entry.is_dir:
                yield from self._walk(self.repo.tree(entry.sha), path)
            else:
                yield path, entry.mode, entry.sha.decode()


FileEntry = tuple[int, str]  # mode, object id


def diff(old: Snapshot, new: Snapshot) -> Iterator[tuple[str, FileEntry | None, FileEntry | None]]:
    """(path, before, after) for every file (link, submodule) that differs between
    two snapshots of one repository, each side its mode and object id, None where
    there is none; only the trees that differ are read (``tree.diff_trees``)."""
    repo = new.repo
    for path, a, b in diff_trees(repo.raw_tree, old.tree.raw(), new.tree.raw()):
        yield path.decode(errors="surrogateescape"), _file_entry(a), _file_entry(b)


def _file_entry(record: TreeRecord | None) -> FileEntry | None:
    return None if record is None else (record[1], record[2].hex())
