"""Bringing the index and the working tree in step with a new commit, path by
path, under git's ``index.lock``: a file a person has changed on disk, or that
an editor has open, is left alone (and the version their change started from
kept), any other one is rewritten and its index entry updated."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.index import IndexEntry
from dulwich.objects import ObjectID

from gitmem.errors import CorruptError
from gitmem.git import safefs
from gitmem.git.editors import Replaced, Version, held
from gitmem.git.index import Bases, Entries, GitIndex, entry_for, read_index, stamp
from gitmem.git.lock import with_git_lock
from gitmem.git.objects import blob_id
from gitmem.git.snapshot import Snapshot, diff
from gitmem.git.tree import FILE_MODE

AWAY_KEPT = 256  # moves of the branch noted while HEAD is elsewhere (see catch_up)


def disk_blob_id(root: Path, path: str, cap: int) -> str | None:
    """The blob id of the file at ``path`` in the working tree (None: no file).
    A link, FIFO, directory, a file over ``cap`` bytes, ... is never read: it
    gets a reason no blob id equals."""
    try:
        data = safefs.read(root, path, cap)
    except safefs.Refused as e:
        return e.reason
    return None if data is None else blob_id(data)


class Checkout:
    """The index and working tree of the repository at ``root``; ``blob`` reads
    an object's contents, ``taken`` is told each ``index.lock`` taken; files
    over ``cap`` bytes are never read."""

    def __init__(
        self,
        root: Path,
        gitdir: Path,
        blob: Callable[[str], bytes],
        taken: Callable[[str], None] = lambda lock: None,
        *,
        cap: int,
    ) -> None:
        self.root = root
        self.cap = cap  # the largest file read from the working tree
        self._gitdir = gitdir
        self.index = GitIndex(str(gitdir / "index"), taken)
        self._own = gitdir / "gitmem"  # gitmem's files in .git: bases, temporaries
        self._bases_file = self._own / "bases"
        self._away = self._own / "away"  # see moving_away
        self._replaced = Replaced(self._own / "replaced")
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

    def _temporary(self, n: int = 0) -> Path:
        """A file of this thread's (its ``n``-th) to write before renaming it into place."""
        self._own.mkdir(parents=True, exist_ok=True)
        return self._own / f"tmp-{os.getpid()}-{threading.get_ident()}-{n}"

    def replaced(self, path: str) -> list[Version]:
        """The versions of ``path`` last replaced on disk (or left to an editor's
        buffer), newest first: a save may be derived from any of them."""
        return self._replaced.get(path)

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
        """``update`` with git's ``index.lock`` held by the caller, ``index`` its entries.

        The files written are made durable with the index, when the caller
        lets go of ``index.lock`` (see ``GitIndex.durable_with``).
        """
        bases = Bases(self._bases_file)
        records = bases.holding(index, self._merging())
        writes = _Writes()
        for path in paths:
            if path not in claimed:
                old_sha, new_sha = old.blob_id(path), new.blob_id(path)
                self._sync_path(index, bases, writes, records, path, old_sha, new_sha)
        for path, read in claimed.items():
            self._sync_claimed(index, bases, writes, path, read, new.blob_id(path))
        self._finish(index, writes)
        bases.save()

    def _finish(self, index: Entries, writes: _Writes) -> None:
        """Put the files written aside in place and in the index, durably."""
        for tmp, path, sha in writes.files:
            full = self.root / path
            if tmp:
                os.replace(tmp, full)
            writes.dirs.add(full.parent)
            # Stat, then check the content: a save landing since the file was
            # checked must not get this version's stat, or it would look unchanged.
            entry = entry_for(str(full), ObjectID(sha.encode()))
            fresh = disk_blob_id(self.root, path, self.cap) == sha
            index.set(path.encode(), entry if fresh else _unstatted(sha))
        # A file already right (a person's save being committed) is made durable
        # too: the index is about to say it holds the commit's version.
        self.index.durable_with([self.root / path for _, path, _ in writes.files], writes.dirs)

    def _sync_path(
        self,
        index: Entries,
        bases: Bases,
        writes: _Writes,
        records: Mapping[str, str | None],
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
        disk = disk_blob_id(self.root, path, self.cap)
        if not conflicted:
            if disk == new_sha or (disk == old_sha and not self._held(path, disk, new_sha)):
                self._check_out(index, bases, writes, path, new_sha, disk)
                return
            if self._with_editor(path, disk, old_sha, new_sha):
                self._leave_to_editor(index, bases, path, disk, new_sha)
                return
        # The person's copy started from what a record that still holds says,
        # else from the branch's version before this operation.
        base = records.get(path, old_sha)
        if not conflicted and index.sha(name) == (old_sha.encode() if old_sha else None):
            # Nothing staged: the index follows the branch, so that it never
            # stages taking this operation's change back out (the stat is left
            # empty, so git and gitmem compare the file's contents).
            index.set(name, None if new_sha is None else _unstatted(new_sha))
        bases.keep(path, stamp(index, name), base, disk)

    def _sync_claimed(
        self,
        index: Entries,
        bases: Bases,
        writes: _Writes,
        path: str,
        read: str | None,
        new_sha: str | None,
    ) -> None:
        disk = disk_blob_id(self.root, path, self.cap)
        if disk == read and (disk == new_sha or not self._held(path, disk, new_sha)):
            self._check_out(index, bases, writes, path, new_sha, read, saved=True)
            return
        # Saved again since it was read, or still open in the editor that saved
        # it: keep the file. What was read is what the file derives from, not
        # the commit (a buffer never has the lines the merge brought in).
        self._leave_to_editor(index, bases, path, read, new_sha, saved=True)

    def _held(self, path: str, disk: str | None, new_sha: str | None) -> bool:
        """Whether an editor has ``path`` (blob ``disk``) open and it would be
        rewritten under it. A file to delete is deleted, one to create created:
        a buffer of a file that is not there holds nothing to keep."""
        return disk is not None and new_sha is not None and held(self.root, path)

    def _with_editor(
        self, path: str, disk: str | None, old_sha: str | None, new_sha: str | None
    ) -> bool:
        """Whether the file is as gitmem left it to an editor that still has it
        open: the branch's version before this commit (``_sync_path`` found it
        held), or one an earlier commit left to it."""
        if disk == old_sha:
            return True
        if disk is None or Version(disk, saved=False) not in self._replaced.get(path):
            return False
        return self._held(path, disk, new_sha)

    def _leave_to_editor(
        self,
        index: Entries,
        bases: Bases,
        path: str,
        on_disk: str | None,
        new_sha: str | None,
        saved: bool = False,
    ) -> None:
        """Leave the file (blob ``on_disk``; ``saved``: a person's save) as an
        editor's buffer has it; the index gets ``new_sha`` without stat, so git
        and gitmem see the file as changed, and the file's version is kept as
        the one a save from the buffer derives from."""
        name = path.encode()
        index.set(name, None if new_sha is None else _unstatted(new_sha))
        if on_disk is None or on_disk == new_sha:
            bases.drop(path)
            return
        self._replaced.add(path, Version(on_disk, saved))
        # The copy on disk started from that version: plain git committing it
        # is merged or refused like any person's copy (hooks.older_than_branch).
        bases.keep(path, stamp(index, name), on_disk, on_disk)

    def _check_out(
        self,
        index: Entries,
        bases: Bases,
        writes: _Writes,
        path: str,
        new_sha: str | None,
        disk: str | None,
        saved: bool = False,
    ) -> None:
        """Write ``new_sha`` (None: no file) to ``path`` on disk and in the index;
        ``disk`` is the blob id of the file there now (``saved``: a person's save).
        A new file is only written aside here: ``update_locked`` puts it in place."""
        bases.drop(path)
        if disk is not None and disk != new_sha:  # an editor's buffer may still hold it
            self._replaced.add(path, Version(disk, saved))
        name, full = path.encode(), self.root / path
        if new_sha is None:
            with suppress(FileNotFoundError):
                full.unlink()
            writes.dirs.add(_remove_empty_dirs(full.parent, self.root))
            index.set(name, None)
            return
        if disk == new_sha:
            writes.files.append((None, path, new_sha))
            return
        for made in _make_dirs(full.parent):
            writes.dirs.add(made.parent)
        tmp = self._temporary(len(writes.files))
        tmp.write_bytes(self._blob(new_sha))
        writes.files.append((tmp, path, new_sha))

    # -- while HEAD is elsewhere -------------------------------------------

    def moving_away(self, old: ObjectID | None, new: ObjectID) -> None:
        """Note that the branch is about to move from ``old`` to ``new`` while HEAD
        is elsewhere (detached, another branch, mid-rebase), leaving index and
        files alone: see ``catch_up``."""
        self._own.mkdir(parents=True, exist_ok=True)
        line = b"%s %s\n" % (old or b"-", new)
        with open(self._away, "ab") as f:
            f.write(line)
            full = f.tell() > 2 * AWAY_KEPT * len(line)
        if full:
            # Only the last moves can be missing from a checkout of the branch:
            # git read the branch while it ran.
            kept = self._away.read_bytes().splitlines(keepends=True)[-AWAY_KEPT:]
            safefs.replace_file(self._away, b"".join(kept), tmp=self._temporary())

    def was_away(self) -> bool:
        return self._away.exists()

    def catch_up(self, head: Snapshot) -> None:
        """HEAD is back on the branch (``head``) after it moved while HEAD was
        elsewhere. Git checked the branch out as it was when git read it, maybe
        before the last of those moves: each file still at a version the branch
        had meanwhile, in the index as on disk, is brought up to ``head``.
        Anything else is the person's, and left alone."""
        try:
            moves = [line.split() for line in self._away.read_bytes().splitlines()]
        except FileNotFoundError:
            return
        repo = head.repo
        paths: set[str] = set()
        seen: list[Snapshot] = []
        for old, new in moves:
            with suppress(CorruptError):  # gone since (a reset and a gc): nothing to catch up
                after = repo.snapshot(ObjectID(new))
                before = repo.snapshot(ObjectID(old)) if old != b"-" else None
                if before is not None:
                    paths.update(path for path, _, _ in diff(before, after))
                seen += [s for s in (before, after) if s is not None]

        def catch_up() -> None:
            with self.index.locked() as index:
                bases = Bases(self._bases_file)
                writes = _Writes()
                for path in sorted(paths):
                    with suppress(safefs.Refused):
                        safefs.check_parents(self.root, path)
                        if index.conflicted(path.encode()):
                            continue
                        raw = index.sha(path.encode())
                        disk = disk_blob_id(self.root, path, self.cap)
                        stale = {s.blob_id(path) for s in seen} - {head.blob_id(path)}
                        if (raw.decode() if raw else None) == disk and disk in stale:
                            self._check_out(index, bases, writes, path, head.blob_id(path), disk)
                self._finish(index, writes)
                bases.save()
            self._away.unlink(missing_ok=True)

        with_git_lock(catch_up)


@dataclass
class _Writes:
    """What one checkout wrote: files written aside (temporary, path, blob id;
    no temporary where the file is already right), and directories whose
    names changed."""

    files: list[tuple[Path | None, str, str]] = field(default_factory=list)
    dirs: set[Path] = field(default_factory=set)


def _unstatted(sha: str) -> IndexEntry:
    """An index entry without stat: git, and gitmem, read the file again to compare."""
    return IndexEntry((0, 0), (0, 0), 0, 0, FILE_MODE, 0, 0, 0, ObjectID(sha.encode()))


def _make_dirs(directory: Path) -> list[Path]:
    """Make ``directory`` and the missing ones above it; returns those it made."""
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for made in reversed(missing):
        made.mkdir(exist_ok=True)
    return missing


def _remove_empty_dirs(directory: Path, root: Path) -> Path:
    """Remove ``directory`` and those above it while empty; returns the first
    one left, whose names changed."""
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return directory
            if e.errno != errno.ENOENT:
                raise
        directory = directory.parent
    return directory
