"""The store's files as of one commit, read from its trees, and which paths
differ between two trees."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dulwich.objects import ObjectID

from gitmem.git.tree import EMPTY, RawTree

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


def changed_paths(repo: GitRepo, old: RawTree, new: RawTree, prefix: str = "") -> Iterator[str]:
    """The paths of the files (links, submodules) that differ between trees ``old``
    and ``new``, each after ``prefix``; subtrees that are equal are not read."""
    old_entries = {e.name: e for e in old}
    new_entries = {e.name: e for e in new}
    for name in sorted(old_entries.keys() | new_entries.keys()):
        a, b = old_entries.get(name), new_entries.get(name)
        if a == b:
            continue
        path = prefix + name.decode(errors="surrogateescape")
        sub_a = repo.tree(a.sha) if a and a.is_dir else EMPTY
        sub_b = repo.tree(b.sha) if b and b.is_dir else EMPTY
        if (a and not a.is_dir) or (b and not b.is_dir):
            yield path
        if sub_a is not EMPTY or sub_b is not EMPTY:
            yield from changed_paths(repo, sub_a, sub_b, path + "/")
