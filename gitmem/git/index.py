"""The Git index file, kept in step with the branch one entry at a time.

dulwich's ``Index`` parses and rewrites every entry in pure Python. Versions
2 and 3 of the format store each entry as an independent, padded record, so we
split the file into raw records once, keep them while the file is unchanged on
disk, and splice in only the records we change. Version 4 (prefix-compressed
paths) is rare; for it we take dulwich's whole-file path. An index with a
required extension (a split or sparse index, or one gitmem does not know) is
refused, never rewritten: its entries mean something only with that extension.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import struct
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from dulwich.file import FileLocked, GitFile
from dulwich.index import (
    ConflictedIndexEntry,
    IndexEntry,
    Stage,
    index_entry_from_stat,
    read_index_dict_with_version,
    write_cache_entry,
    write_index_dict,
)
from dulwich.objects import ObjectID

from gitmem.errors import UnsupportedError
from gitmem.git import safefs
from gitmem.git.editors import alive
from gitmem.git.lock import Busy, identity
from gitmem.git.tree import FILE_MODE

# Fast path, kept: splicing entries beats dulwich's whole-index rewrite at 1,000+ (bench/ops.py).
_HEADER = struct.Struct(">4sLL")
_FLAGS = struct.Struct(">H")
_STAT = struct.Struct(">10L20s")  # ctime s/ns, mtime s/ns, dev, ino, mode, uid, gid, size, sha
_EXTENDED = 0x4000
_NAME_MASK = 0xFFF


@dataclass(frozen=True)
class Staged:
    """One stage-0 entry: the blob staged at a path and the file's stat when staged."""

    sha: str
    mode: int
    ctime: tuple[int, int]
    mtime: tuple[int, int]
    ino: int
    size: int

    def same_stat(self, st: os.stat_result) -> bool:
        """Whether the file looks untouched since it was staged (git's stat check)."""
        return (
            self.mtime == _split_ns(st.st_mtime_ns)
            and self.ctime == _split_ns(st.st_ctime_ns)
            and self.ino == st.st_ino & 0xFFFFFFFF
            and self.size == st.st_size & 0xFFFFFFFF
        )


def _split_ns(ns: int) -> tuple[int, int]:
    return ns // 1_000_000_000 & 0xFFFFFFFF, ns % 1_000_000_000


def _staged(e: IndexEntry) -> Staged:
    def pair(t: object) -> tuple[int, int]:
        return (t[0], t[1]) if isinstance(t, tuple) else (int(t), 0)  # type: ignore[call-overload]

    # As the index file holds them (32 bits), whether read from it or just set.
    ino, size = e.ino & 0xFFFFFFFF, e.size & 0xFFFFFFFF
    return Staged(e.sha.decode(), e.mode, pair(e.ctime), pair(e.mtime), ino, size)


class SplitIndex:
    """A v2/v3 index as raw records: ``names`` sorted, ``records`` by (name, stage)."""

    def __init__(self, data: bytes) -> None:
        _, self.version, count = _HEADER.unpack_from(data)
        self.keys: list[tuple[bytes, int]] = []
        self.records: dict[tuple[bytes, int], bytes] = {}
        pos = _HEADER.size
        for _ in range(count):
            (flags,) = _FLAGS.unpack_from(data, pos + 60)
            start = pos + 62 + (2 if flags & _EXTENDED else 0)
            length = flags & _NAME_MASK
            end = start + length if length < _NAME_MASK else data.index(b"\0", start)
            size = (end - pos + 8) & ~7
            key = (data[start:end], (flags >> 12) & 3)
            self.keys.append(key)
            self.records[key] = data[pos : pos + size]
            pos += size
        self.end = pos

    def sha(self, name: bytes) -> bytes | None:
        record = self.records.get((name, 0))
        return record[40:60].hex().encode() if record else None

    def conflicted(self, name: bytes) -> bool:
        return any((name, stage) in self.records for stage in (1, 2, 3))

    def entry(self, name: bytes) -> Staged | None:
        """The stage-0 entry of ``name`` (None: not in the index, or in conflict)."""
        record = self.records.get((name, 0))
        if record is None:
            return None
        cs, cn, ms, mn, _, ino, mode, _, _, size, sha = _STAT.unpack_from(record)
        return Staged(sha.hex(), mode, (cs, cn), (ms, mn), ino, size)

    def staged(self, under: tuple[bytes, ...] = (b"",)) -> Iterator[tuple[bytes, Staged | None]]:
        """Every path starting with one of ``under``, with its stage-0 entry
        (None: the path is in conflict)."""
        last = None
        for name, stage in self.keys:  # sorted: a path's lowest stage comes first
            if name == last or not name.startswith(under):
                continue
            last = name
            yield name, None if stage else self.entry(name)

    def set(self, name: bytes, entry: IndexEntry | None) -> None:
        key = (name, 0)
        if key in self.records:
            if entry is None:
                del self.records[key]
                self.keys.pop(bisect_left(self.keys, key))
        elif entry is not None:
            self.keys.insert(bisect_left(self.keys, key), key)
        if entry is not None:
            out = io.BytesIO()
            write_cache_entry(out, entry.serialize(name, Stage.NORMAL), version=self.version)
            self.records[key] = out.getvalue()

    def copy(self) -> SplitIndex:
        """A copy to change while this one stays as it is (records are bytes: shared)."""
        new = copy.copy(self)
        new.keys, new.records = list(self.keys), dict(self.records)
        return new

    def serialize(self) -> bytes:
        # Optional extensions (cache-tree, untracked cache, ...) describe the
        # old entries; git rebuilds them, so they are dropped, not patched.
        body = _HEADER.pack(b"DIRC", self.version, len(self.keys)) + b"".join(
            self.records[k] for k in self.keys
        )
        return body + hashlib.sha1(body).digest()


class WholeIndex:
    """Any other index, through dulwich's whole-file reader and writer."""

    def __init__(self, data: bytes) -> None:
        entries, self.version, self.extensions = read_index_dict_with_version(io.BytesIO(data))
        self.entries = entries

    def sha(self, name: bytes) -> bytes | None:
        entry = self.entries.get(name)
        return entry.sha if isinstance(entry, IndexEntry) else None

    def conflicted(self, name: bytes) -> bool:
        return isinstance(self.entries.get(name), ConflictedIndexEntry)

    def entry(self, name: bytes) -> Staged | None:
        """The stage-0 entry of ``name`` (None: not in the index, or in conflict)."""
        e = self.entries.get(name)
        if not isinstance(e, IndexEntry):
            return None
        return _staged(e)

    def staged(self, under: tuple[bytes, ...] = (b"",)) -> Iterator[tuple[bytes, Staged | None]]:
        """Every path starting with one of ``under``, with its stage-0 entry
        (None: the path is in conflict)."""
        for name in self.entries:
            if name.startswith(under):
                yield name, self.entry(name)

    def set(self, name: bytes, entry: IndexEntry | None) -> None:
        if entry is None:
            self.entries.pop(name, None)
        else:
            self.entries[name] = entry

    def copy(self) -> WholeIndex:
        """A copy to change while this one stays as it is."""
        new = copy.copy(self)
        new.entries = dict(self.entries)
        return new

    def serialize(self) -> bytes:
        out = io.BytesIO()
        write_index_dict(out, self.entries, version=self.version, extensions=self.extensions)
        body = out.getvalue()
        return body + hashlib.sha1(body).digest()


Entries = SplitIndex | WholeIndex


# Required extensions (lower-case signature) git may write, and how to go without.
_REQUIRED = {
    b"link": "is a split index (core.splitIndex), which gitmem cannot update without "
    "corrupting it; turn it off: git config core.splitIndex false && "
    "git update-index --no-split-index",
    b"sdir": "is a sparse index (index.sparse), which gitmem cannot update without "
    "corrupting it; turn it off: git sparse-checkout set --no-sparse-index",
}


def _parse(data: bytes, path: str) -> Entries:
    if not data:
        data = _HEADER.pack(b"DIRC", 2, 0)
    _, version, _ = _HEADER.unpack_from(data)
    if version not in (2, 3):
        whole = WholeIndex(data)
        for extension in whole.extensions:
            _check_extension(extension.signature, path)
        return whole
    split = SplitIndex(data)
    # Anything after the records but the checksum is extensions.
    pos = split.end
    while pos + 8 <= len(data) - 20:
        _check_extension(data[pos : pos + 4], path)
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "big")
    return split


def _check_extension(signature: bytes, path: str) -> None:
    """Refuse an index whose extension ``signature`` is required (lower case):
    optional ones only cache what the entries say, and are dropped on write."""
    if signature[:1].islower():
        name = signature.decode("ascii", errors="replace")
        problem = _REQUIRED.get(
            signature,
            f"has a required extension gitmem does not know ({name!r}), so gitmem "
            "cannot update it without corrupting it",
        )
        raise UnsupportedError(f"{path}: {problem}")


def entry_for(path: str, sha: ObjectID) -> IndexEntry:
    """An index entry for the file at ``path`` as it is now on disk."""
    return index_entry_from_stat(os.lstat(path), sha, FILE_MODE)


def read_index(path: str) -> Entries:
    """The index at ``path`` as it is now (read only: no lock taken, nothing cached)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    return _parse(data, path)


TAKING = "taking"
# How long writers hold still after a person's git command wrote the index or
# let go of index.lock: the person's next command (git commit after git add)
# starts well within it, and git commit reads HEAD before it takes the lock.
GRACE_SECONDS = 0.1
# The longest writers hold still for a person's git, each time they write
# (but for index.lock, which they need): a commit whose hooks and message
# editor take longer may find the branch moved, and a person running git
# without pause does not starve the agents. gitmem's pre-commit hook takes
# ~0.3 s, over 1 s on a loaded machine (bench/plaingit.py).
HOLD_STILL_SECONDS = 5.0
COMMITTING = "committing"  # the marker the pre-commit hook script writes: git's pid
_WRITTEN = "index-written"  # the index as gitmem last wrote it (inode, size, mtime)
_WRITTEN_SIZE = 80


class GitIndex:
    """``.git/index``, parsed once and re-read only when someone else rewrote it.

    ``own`` is gitmem's directory in ``.git``, where ``busy`` finds what tells
    a person's git command at work.
    """

    def __init__(
        self, path: str, taken: Callable[[str], None] = lambda lock: None, own: Path | None = None
    ) -> None:
        self._path = path
        # told of each index.lock: TAKING, then its identity, then "" once it is gone
        self._taken = taken
        self._own = own or Path(path).parent / "gitmem"
        self._stamp: tuple[int, int, int] | None = None
        self._parsed: Entries | None = None
        self._files: list[Path] = []  # see durable_with
        self._dirs: set[Path] = set()
        self._kept: list[Path] = []  # see replace
        self._after: list[Callable[[], None]] = []  # see after
        self._written = str(self._own / _WRITTEN)
        self._marker = str(self._own / COMMITTING)
        self._lock_seen = -GRACE_SECONDS  # when index.lock was last seen held by another
        self._holding_still: float | None = None  # since when, for this write (see busy)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    @contextmanager
    def locked(self) -> Iterator[Entries]:
        """Hold git's ``index.lock``; the yielded entries are written back on success,
        then made durable with what ``durable_with`` named, once the lock is let go.

        git never waits for ``index.lock`` (a ``git add`` finding it fails at
        once), so what is done under it should be little: every fsync comes
        after the new index is renamed into place; ``copy`` and ``installed``
        do the rest beforehand. A power cut before the call returns leaves at
        worst an index that ``git reset`` writes again.

        Raises dulwich's FileLocked if another process holds the lock, and
        Busy, holding nothing, if a person's git command is at work (``busy``).
        """
        self._files, self._dirs, self._kept, self._after = [], set(), [], []
        self._taken(TAKING)
        try:
            with GitFile(self._path, "wb", fsync=False) as f:
                self._taken(identity(os.fstat(f.fileno())))
                self._check_person()
                stamp = self._stat()
                if self._parsed is None or stamp != self._stamp:
                    self._parsed = read_index(self._path)
                try:
                    yield self._parsed
                except BaseException:
                    self._parsed = None  # may be half-changed; read it again next time
                    raise
                f.write(self._parsed.serialize())
                f.flush()
                st = os.fstat(f.fileno())  # the renaming keeps inode, size and mtime
                self._stamp = None  # until renamed into place
                self._keep(Path(self._path))
        except BaseException:
            safefs.fsync_all([], remove=self._kept)
            raise
        finally:
            self._taken("")  # written or removed: the lock file is gone
        self._settle(st)

    def copy(self) -> tuple[Entries, tuple[int, int, int] | None]:
        """The index as it is now, and its stamp, to change without the lock:
        ``installed`` puts the changed copy in place if the index is still the
        one copied. Starts what ``durable_with``, ``replace`` and ``after``
        gather for it."""
        self._files, self._dirs, self._kept, self._after = [], set(), [], []
        stamp = self._stat()
        if self._parsed is None or stamp != self._stamp:
            self._parsed, self._stamp = read_index(self._path), stamp
        return self._parsed.copy(), stamp

    def write_aside(self, entries: Entries) -> Path:
        """Write ``entries`` as an index file beside the index, to be fsynced by
        the caller before ``installed`` puts it in place."""
        aside = self._own / f"tmp-index-{os.getpid()}-{threading.get_ident()}"
        try:
            with open(aside, "wb") as f:
                f.write(entries.serialize())
        except BaseException:
            aside.unlink(missing_ok=True)  # a full disk: nothing left behind
            raise
        return aside

    @contextmanager
    def installed(
        self, entries: Entries, copied: tuple[int, int, int] | None, aside: Path
    ) -> Iterator[None]:
        """Take ``index.lock`` already holding ``entries`` (``aside``, written and
        fsynced: linked in as the lock file), and on success rename it into
        place. So git finds the lock held only for the renames the caller makes
        meanwhile (~0.2 ms; writing the index under it took ~1 ms more).

        Raises FileLocked if another process holds the lock, and Busy, holding
        nothing, if the index is no longer the one ``copy`` gave (``copied``):
        git changed it, so the caller plans again; or if a person's git
        command is at work (``busy``).
        """
        lock = self._path + ".lock"
        try:
            st = self._take(aside, lock)
        except BaseException as e:
            self._taken("")
            aside.unlink(missing_ok=True)
            if isinstance(e, FileExistsError):
                raise FileLocked(self._path, lock) from None
            raise
        done = False
        try:
            if self._stat() != copied:
                raise Busy()
            self._check_person()
            yield
            self._keep(Path(self._path))
            os.rename(lock, self._path)
            done = True
        finally:
            if not done:
                with suppress(FileNotFoundError):
                    os.unlink(lock)
                safefs.fsync_all([], remove=self._kept)
            self._taken("")
            aside.unlink(missing_ok=True)  # the index, or the lock file, keeps the file itself
        self._parsed = entries
        self._settle(st)

    def _take(self, aside: Path, lock: str) -> os.stat_result:
        """Create ``lock`` holding what ``aside`` holds, as its hard link (its own
        copy where there are no links); returns its stat."""
        st = os.stat(aside)
        self._taken(identity(st))  # the lock file will be this file
        try:
            os.link(aside, lock)
            return st
        except FileExistsError:
            raise
        except OSError:
            pass
        self._taken(TAKING)
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            self._taken(identity(os.fstat(fd)))
            os.write(fd, aside.read_bytes())
            os.fsync(fd)
            return os.fstat(fd)
        except BaseException:
            os.unlink(lock)
            raise
        finally:
            os.close(fd)

    def _check_person(self) -> None:
        """Under the lock: raise Busy if a person's git is at work. Again now that
        git cannot start writing the index: its git commit may have read HEAD
        since ``busy`` looked."""
        if self._patient() and self._person_busy():
            self._holding_still = self._holding_still or time.monotonic()
            raise Busy()
        self._holding_still = None

    def _settle(self, st: os.stat_result) -> None:
        """Once the index written (``st``: its stat) is in place and the lock let
        go: what waited for that, then every fsync and unlink at once."""
        self._stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        self._note_written()
        for fn in self._after:
            fn()
        safefs.fsync_all(
            [*self._files, self._path, *self._dirs, os.path.dirname(self._path)],
            remove=self._kept,
        )

    def after(self, fn: Callable[[], None]) -> None:
        """While ``locked``: call ``fn`` once the new index is in place and the
        lock let go (what only gitmem reads, under its own store lock)."""
        self._after.append(fn)

    def replace(self, src: Path, dst: Path) -> None:
        """While ``locked``: rename ``src`` over ``dst``, keeping the file ``dst``
        named linked aside until the lock is let go. On ext4 a rename that
        frees the file it replaces takes 1-4 ms, one that does not ~0.03 ms
        (measured on our disk); git fails at once on ``index.lock`` meanwhile."""
        self._keep(dst)
        os.replace(src, dst)

    def _keep(self, path: Path) -> None:
        # tmp-*: removed with the other temporaries of a writer that died
        kept = self._own / f"tmp-kept-{os.getpid()}-{threading.get_ident()}-{len(self._kept)}"
        try:
            os.link(path, kept)
        except OSError:
            return  # no file there (a new one), or no links on this file system: slower
        self._kept.append(kept)

    def durable_with(self, files: Iterable[Path], dirs: Iterable[Path]) -> None:
        """While ``locked``: fsync ``files``, and ``dirs`` (whose names changed),
        with the new index once the lock is let go."""
        self._files += files
        self._dirs.update(dirs)

    def busy(self) -> bool:
        """Whether writers should hold still because a person's git command is
        at work, or was a moment ago. Raises FileLocked while another process
        holds ``index.lock`` (``with_git_lock`` waits that out).

        git never waits for ``index.lock``, and ``git commit`` reads HEAD first
        and moves it last, failing if it moved in between; a person committing
        while agents write would have to retry until they found a gap. So
        writers leave the index and the branch alone while git holds the lock
        and ``GRACE_SECONDS`` after (the person's next command), while git's
        own write of the index is that recent, and while the pre-commit hook
        script's marker names a live git (the hook and the commit it checks),
        for ``HOLD_STILL_SECONDS`` at most (but for ``index.lock``).
        """
        lock = self._path + ".lock"
        now = time.monotonic()
        if os.path.exists(lock):
            self._lock_seen = now
            self._holding_still = self._holding_still or now
            raise FileLocked(self._path, lock)
        if not self._patient():
            return False
        if now - self._lock_seen < GRACE_SECONDS or self._person_busy():
            self._holding_still = self._holding_still or now
            return True
        return False

    def _patient(self) -> bool:
        """Whether this write has held still for a person for less than it may."""
        since = self._holding_still
        return since is None or time.monotonic() - since < HOLD_STILL_SECONDS

    def _person_busy(self) -> bool:
        """``busy``, but for ``index.lock``: a recent index write that was not
        gitmem's, or a commit's marker."""
        # Plain os calls: this runs under index.lock.
        now = time.time()
        with suppress(FileNotFoundError):
            st = os.stat(self._path)
            if 0 <= now - st.st_mtime < GRACE_SECONDS:
                written = _read_small(self._written).rstrip()
                if written != b"%d %d %d" % (st.st_ino, st.st_size, st.st_mtime_ns):
                    return True
        try:
            pid = int(_read_small(self._marker) or b"0")
            return alive(pid) and 0 <= now - os.stat(self._marker).st_mtime < HOLD_STILL_SECONDS
        except (FileNotFoundError, ValueError):
            return False

    def _note_written(self) -> None:
        """Record the index as gitmem wrote it, for ``busy`` to tell git's writes."""
        if self._stamp is None:
            return
        with suppress(OSError):  # without it, writers only hold still a moment too long
            fd = os.open(self._written, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                # Overwritten in place, one length: truncating a file makes
                # ext4 flush it as it is closed (~1 ms).
                os.pwrite(fd, (b"%d %d %d" % self._stamp).ljust(_WRITTEN_SIZE), 0)
            finally:
                os.close(fd)


def _read_small(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 256)
    finally:
        os.close(fd)


CONFLICT = "conflict"


def stamp(index: Entries, name: bytes) -> str:
    """What identifies the index entry of ``name`` as it is now: its blob and
    stat (git writes a new stat whenever it checks the file out or stages it),
    ``CONFLICT`` while a merge left it unresolved, "" when there is none."""
    if index.conflicted(name):
        return CONFLICT
    e = index.entry(name)
    return "" if e is None else f"{e.sha} {e.ctime} {e.mtime} {e.ino} {e.size}"


class Bases:
    """For each path an operation left alone because a person had changed it,
    the version that change started from: the branch's version of the path
    when the first such operation ran.

    ``.git/gitmem/bases`` (JSON: path -> [index stamp, base, file's blob id,
    branch's blob id]), read and written under ``index.lock``. A record holds
    while the branch still has the version it was recorded with (operations
    record again as they move it; a commit of the person's copy ends it), and
    the path's index entry is the one it was recorded with (see ``stamp``), or
    stages something other than the branch's version: the person's copy as it
    was then (``git add``), or edited again since. Once git checks the file out,
    the index stages the branch's version. An edit staged after such a checkout
    holds the record again (the index cannot tell); committing it is refused
    only if it lacks what the branch gained since the base
    (``hooks.older_than_branch``). A path left alone in the middle of a merge
    keeps its record until that merge ends, since resolving it means staging it.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._records: dict[str, list[str | None]] | None = None
        self._dirty = False

    def _load(self) -> dict[str, list[str | None]]:
        if self._records is None:
            try:
                self._records = json.loads(self._path.read_bytes())
            except FileNotFoundError:
                self._records = {}
        return self._records

    def holding(
        self,
        index: Entries,
        merging: Callable[[], bool],
        branch: Callable[[str], str | None],
    ) -> dict[str, str | None]:
        """path -> base, for every record that still holds against ``index``
        (``merging()``: whether a merge, cherry-pick or revert is in progress;
        ``branch(path)``: the branch's blob id of ``path``)."""
        found = {}
        records = self._load()
        in_merge = bool(records) and merging()
        for path, record in records.items():
            recorded, base = record[:2]
            if len(record) > 3 and branch(path) != record[3]:
                continue  # the branch took another version since (a commit of the copy)
            name = path.encode()
            staged = index.sha(name)
            if (
                stamp(index, name) == recorded
                or (recorded == CONFLICT and in_merge)
                or (staged is not None and staged.decode() != branch(path))
            ):
                found[path] = base
        return found

    def prune(self, holding: Mapping[str, str | None]) -> None:
        """Drop the records not in ``holding``: ended, they must not come back."""
        for path in [p for p in self._load() if p not in holding]:
            self.drop(path)

    def keep(
        self, path: str, stamp: str, base: str | None, disk: str | None, branch: str | None
    ) -> None:
        """Record that the person's copy of ``path`` started from ``base``: its
        index entry is now ``stamp``, its file ``disk``, the branch's version
        ``branch``."""
        records = self._load()
        if records.get(path) != [stamp, base, disk, branch]:
            records[path] = [stamp, base, disk, branch]
            self._dirty = True

    def drop(self, path: str) -> None:
        if self._path.exists() and self._load().pop(path, None) is not None:
            self._dirty = True

    def save(self) -> None:
        if self._dirty:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            data = json.dumps(self._load(), indent=0, sort_keys=True).encode()
            safefs.replace_file(self._path, data, durable=True)
            self._dirty = False
