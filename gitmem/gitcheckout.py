"""Bringing the index and the working tree in step with a new commit, path by
path, under git's ``index.lock``: a file a person has changed on disk is left
alone (and the version their change started from kept), any other one is
rewritten and its index entry updated."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path

from dulwich.index import IndexEntry
from dulwich.objects import ObjectID

from gitmem import safefs
from gitmem.block import MAX_FILE_BYTES
from gitmem.gitindex import Bases, Entries, GitIndex, entry_for, read_index, stamp
from gitmem.gitlock import with_git_lock
from gitmem.gitobjects import blob_id
from gitmem.gitsnapshot import Snapshot
from gitmem.gittree import FILE_MODE


def disk_blob_id(root: Path, path: str) -> str | None:
    """The blob id of the file at ``path`` in the working tree (None: no file).
    A link, FIFO, directory, ... is never read: it gets a reason no blob id equals."""
    try:
        data = safefs.read(root, path, MAX_FILE_BYTES)
    except safefs.Refused as e:
        return e.reason
    return None if data is None else blob_id(data)


class Checkout:
    """The index and working tree of the repository at ``root``; ``blob`` reads
    an object's contents, ``taken`` is told each ``index.lock`` taken."""

    def __init__(
        self,
        root: Path,
        gitdir: Path,
        blob: Callable[[str], bytes],
        taken: Callable[[str], None] = lambda lock: None,
    ) -> None:
        self.root = root
        self._gitdir = gitdir
        self.index = GitIndex(str(gitdir / "index"), taken)
        self._own = gitdir / "gitmem"  # gitmem's files in .git: bases, temporaries
        self._bases_file = self._own / "bases"
        self._blob = blob

    def bases(self) -> dict[str, str | None]:
        """path -> the version a person's change started from, where an operation
        left the file alone and the record still holds: see ``Bases``."""
        index = read_index(str(self._gitdir / "index"))
        return Bases(self._bases_file).holding(index, self._merging())

    def _merging(self) -> bool:
        """Whether git is in the middle of a merge, cherry-pick or revert."""
        names = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD")
        return any((self._gitdir / name).exists() for name in names)

    def remove_temporaries(self) -> None:
        """Remove the files a writer killed mid-checkout left half written."""
        for tmp in self._own.glob("tmp-*"):
            with suppress(FileNotFoundError):
                tmp.unlink()

    def update(
        self,
        old: Snapshot,
        new: Snapshot,
        paths: list[str],
        from_disk: Mapping[str, str | None] | None = None,
    ) -> None:
        """Make index and files match ``new`` for ``paths``, except where a person
        has changed a file on disk since ``old``: that is left alone.
        Paths ``from_disk`` were the person's: see ``Change``."""
        if not paths and not from_disk:
            return

        def update() -> None:
            with self.index.locked() as index:
                self.update_locked(index, old, new, paths, from_disk or {})

        with_git_lock(update)

    def update_locked(
        self,
        index: Entries,
        old: Snapshot,
        new: Snapshot,
        paths: list[str],
        claimed: Mapping[str, str | None],
    ) -> None:
        """``update`` with git's ``index.lock`` held by the caller, ``index`` its entries."""
        bases = Bases(self._bases_file)
        held = bases.holding(index, self._merging())
        for path in paths:
            if path not in claimed:
                self._sync_path(index, bases, held, path, old.blob_id(path), new.blob_id(path))
        for path, read in claimed.items():
            self._sync_claimed(index, bases, path, read, new.blob_id(path))
        bases.save()

    def _sync_path(
        self,
        index: Entries,
        bases: Bases,
        held: Mapping[str, str | None],
        path: str,
        old_sha: str | None,
        new_sha: str | None,
    ) -> None:
        """Check out ``path`` at ``new_sha`` unless its file holds a person's edit.

        Only the file tells: ``git commit`` reads HEAD and the index without a
        lock and may write back an index read just before our last update,
        leaving an older entry that no person staged. A file still as we left
        it (or already new: a writer died before writing the index) is ours.
        """
        # A link or a file on the way (blocks/ -> elsewhere), or a name that
        # leaves the store, is left alone like a person's change: never
        # written, read or deleted through.
        try:
            safefs.check_parents(self.root, path)
        except safefs.Refused:
            return
        name = path.encode()
        conflicted = index.conflicted(name)
        disk = disk_blob_id(self.root, path)
        if disk in (old_sha, new_sha) and not conflicted:
            self._check_out(index, bases, path, new_sha, disk)
            return
        # The person's copy started from what a record that still holds says,
        # else from the branch's version before this operation.
        base = held.get(path, old_sha)
        if not conflicted and index.sha(name) == (old_sha.encode() if old_sha else None):
            # Nothing staged: the index follows the branch, so that it never
            # stages taking this operation's change back out (the stat is left
            # empty, so git and gitmem compare the file's contents).
            index.set(name, None if new_sha is None else _unstatted(new_sha))
        bases.keep(path, stamp(index, name), base, disk)

    def _sync_claimed(
        self, index: Entries, bases: Bases, path: str, read: str | None, new_sha: str | None
    ) -> None:
        if disk_blob_id(self.root, path) == read:
            self._check_out(index, bases, path, new_sha, read)
            return
        bases.drop(path)
        if new_sha is None:
            index.set(path.encode(), None)
        else:
            # Saved again since it was read: keep the newer file; the commit
            # becomes the base of that edit.
            index.set(path.encode(), _unstatted(new_sha))

    def _check_out(
        self, index: Entries, bases: Bases, path: str, new_sha: str | None, disk: str | None
    ) -> None:
        """Write ``new_sha`` (None: no file) to ``path`` on disk and in the index;
        ``disk`` is the blob id of the file there now."""
        bases.drop(path)
        name, full = path.encode(), self.root / path
        if new_sha is None:
            with suppress(FileNotFoundError):
                full.unlink()
            _remove_empty_dirs(full.parent, self.root)
            index.set(name, None)
            return
        if disk != new_sha:
            full.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._own / f"tmp-{os.getpid()}-{threading.get_ident()}"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(self._blob(new_sha))
            os.replace(tmp, full)
        # Stat, then check the content: a save landing since the file was
        # checked must not get this version's stat, or it would look unchanged.
        entry = entry_for(str(full), ObjectID(new_sha.encode()))
        index.set(name, entry if disk_blob_id(self.root, path) == new_sha else _unstatted(new_sha))


def _unstatted(sha: str) -> IndexEntry:
    """An index entry without stat: git, and gitmem, read the file again to compare."""
    return IndexEntry((0, 0), (0, 0), 0, 0, FILE_MODE, 0, 0, 0, ObjectID(sha.encode()))


def _remove_empty_dirs(directory: Path, root: Path) -> None:
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                return
            raise
        directory = directory.parent
