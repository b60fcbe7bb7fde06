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

import hashlib
import io
import json
import os
import struct
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dulwich.file import GitFile
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
from gitmem.git.lock import identity
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


class GitIndex:
    """``.git/index``, parsed once and re-read only when someone else rewrote it."""

    def __init__(self, path: str, taken: Callable[[str], None] = lambda lock: None) -> None:
        self._path = path
        # told of each index.lock: TAKING, then its identity, then "" once it is gone
        self._taken = taken
        self._stamp: tuple[int, int, int] | None = None
        self._parsed: Entries | None = None
        self._files: list[Path] = []  # see durable_with
        self._dirs: set[Path] = set()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    @contextmanager
    def locked(self) -> Iterator[Entries]:
        """Hold git's ``index.lock``; the yielded entries are written back on success,
        durably: fsynced, renamed into place, the rename fsynced.

        Raises dulwich's FileLocked if another process holds the lock.
        """
        self._files, self._dirs = [], set()
        self._taken(TAKING)
        try:
            with GitFile(self._path, "wb", fsync=False) as f:
                self._taken(identity(os.fstat(f.fileno())))
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
                # The index, and the files it is about to name, durable before it
                # is renamed into place; then the renames.
                safefs.fsync_all([*self._files, f.fileno()])
        finally:
            self._taken("")  # written or removed: the lock file is gone
        safefs.fsync_all([*self._dirs, os.path.dirname(self._path)])
        self._stamp = self._stat()

    def durable_with(self, files: Iterable[Path], dirs: Iterable[Path]) -> None:
        """While ``locked``: fsync ``files`` with the index, and ``dirs`` (whose
        names changed) with its rename, each in the same batch."""
        self._files += files
        self._dirs.update(dirs)


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

    ``.git/gitmem/bases`` (JSON: path -> [index stamp, base, file's blob id]),
    read and written under ``index.lock``. A record holds while the path's index
    entry is the one it was recorded with (see ``stamp``), or stages the file as
    it was then (``git add`` of the person's copy): once git checks the file out,
    or the person stages a later edit, the copy no longer provably descends from
    the base. A path left alone in the middle of a merge keeps its record until
    that merge ends, since resolving it means staging it.
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

    def holding(self, index: Entries, merging: bool) -> dict[str, str | None]:
        """path -> base, for every record that still holds against ``index``
        (``merging``: a merge, cherry-pick or revert is in progress)."""
        found = {}
        for path, record in self._load().items():
            recorded, base, disk = (*record, None)[:3]
            name = path.encode()
            staged = index.sha(name)
            if (
                stamp(index, name) == recorded
                or (recorded == CONFLICT and merging)
                or (disk is not None and staged is not None and staged.decode() == disk)
            ):
                found[path] = base
        return found

    def keep(self, path: str, stamp: str, base: str | None, disk: str | None) -> None:
        """Record that the person's copy of ``path`` started from ``base``: its
        index entry is now ``stamp``, its file ``disk`` (staging that file as it
        is keeps the record)."""
        records = self._load()
        if records.get(path) != [stamp, base, disk]:
            records[path] = [stamp, base, disk]
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
