"""Git trees held as raw, sorted entry records, so that a commit changing one
file re-joins bytes instead of re-serialising every entry of a large directory
(dulwich's ``Tree`` re-sorts and re-encodes all of them); and two trees compared
as raw bytes, never parsed."""

from __future__ import annotations

import re
import stat
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from dulwich.objects import ObjectID, Tree

from gitmem.errors import ValidationError

FILE_MODE = 0o100644
DIR_MODE = 0o040000


@dataclass(frozen=True)
class Entry:
    name: bytes
    mode: int
    sha: ObjectID  # hex

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        """A regular file: not a directory, symbolic link or submodule."""
        return stat.S_ISREG(self.mode)


def _sort_key(name: bytes, mode: int) -> bytes:
    # Git orders a directory as if its name ended in '/'.
    return name + b"/" if stat.S_ISDIR(mode) else name


def _record(name: bytes, mode: int, sha: bytes) -> bytes:
    return b"%o %s\0%s" % (mode, name, bytes.fromhex(sha.decode()))


# Fast path, kept: splicing raw records beats dulwich's Tree at 1,000+ entries (bench/ops.py).
class RawTree:
    """An immutable tree: ``keys`` (git sort order) and the matching raw ``records``."""

    __slots__ = ("keys", "records")

    def __init__(self, keys: list[bytes], records: list[bytes]) -> None:
        self.keys = keys
        self.records = records

    @classmethod
    def from_dulwich(cls, tree: Tree) -> RawTree:
        items = list(tree.iteritems(name_order=False))
        return cls(
            [_sort_key(e.path, e.mode) for e in items],
            [_record(e.path, e.mode, e.sha) for e in items],
        )

    def _find(self, name: bytes) -> int | None:
        for key in (name, name + b"/"):
            i = bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                return i
        return None

    def get(self, name: bytes) -> Entry | None:
        i = self._find(name)
        return None if i is None else _entry(self.keys[i], self.records[i])

    def __iter__(self) -> Iterator[Entry]:
        return (_entry(k, r) for k, r in zip(self.keys, self.records, strict=True))

    def __len__(self) -> int:
        return len(self.keys)

    def with_changes(self, changes: Mapping[bytes, tuple[int, ObjectID] | None]) -> RawTree:
        """A new tree with entries set to ``(mode, hex sha)`` or removed (None)."""
        keys, records = self.keys[:], self.records[:]
        for name, new in changes.items():
            for key in (name, name + b"/"):
                i = bisect_left(keys, key)
                if i < len(keys) and keys[i] == key:
                    del keys[i], records[i]
            if new is not None:
                key = _sort_key(name, new[0])
                i = bisect_left(keys, key)
                keys.insert(i, key)
                records.insert(i, _record(name, *new))
        return RawTree(keys, records)

    def raw(self) -> bytes:
        """The tree object's contents, as git stores them."""
        return b"".join(self.records)


def tree_raw(entries: Mapping[bytes, tuple[int, ObjectID]]) -> bytes:
    """The contents of the tree holding ``entries`` (name -> mode, hex sha), as git stores it."""
    items = sorted(
        (_sort_key(name, mode), _record(name, mode, sha)) for name, (mode, sha) in entries.items()
    )
    return b"".join(record for _, record in items)


def _entry(key: bytes, record: bytes) -> Entry:
    space = record.index(b" ")
    name = key[:-1] if key.endswith(b"/") else key
    return Entry(name, int(record[:space], 8), ObjectID(record[-20:].hex().encode()))


EMPTY = RawTree([], [])


# Fast path, kept: a raw diff reads a few records, dulwich's tree_changes parses all (bench/ops.py).
# Comparing raw tree objects: a diff of two commits reads only the trees that differ.
# A tree is a run of records "<octal mode> <name>\0<20-byte sha>". Names hold no NUL
# and the sha is exactly 20 bytes, so reading on from a record boundary is exact.
TreeRecord = tuple[bytes, int, bytes]  # name, mode, 20-byte sha
_RECORD = re.compile(rb"([0-7]+) ([^\0]+)\0(.{20})", re.S)
_RECORDS = re.compile(rb"(?:[0-7]+ [^\0]+\0.{20})*", re.S)


def raw_entries(raw: bytes) -> Iterator[TreeRecord]:
    """The records of a raw tree object, in order."""
    pos = 0
    while pos < len(raw):
        record, pos = _read_record(raw, pos)
        yield record


def raw_tree_diff(
    old: bytes, new: bytes
) -> Iterator[tuple[bytes, TreeRecord | None, TreeRecord | None]]:
    """(name, old record, new record) for each entry that differs between two raw trees
    (None where it is absent; a file that became a directory comes as two changes).

    Trees that share most entries share most bytes: only the records between the
    common leading and trailing bytes are read, so comparing two 1,000-entry trees
    that differ in one entry reads a few records, not 2,000.
    """
    if old == new:
        return
    # The longest run of whole records inside the common prefix ends on a boundary
    # of both trees; read from there until both have the same bytes left.
    start = _RECORDS.match(new, 0, _common_prefix(old, new))
    i = j = start.end() if start else 0
    tail = _common_suffix(old, new)
    a: TreeRecord | None = None
    b: TreeRecord | None = None
    while a or b or len(old) - i != len(new) - j or len(new) - j > tail:
        if a is None and i < len(old):
            a, i = _read_record(old, i)
        if b is None and j < len(new):
            b, j = _read_record(new, j)
        if a and (not b or _sort_key(a[0], a[1]) < _sort_key(b[0], b[1])):
            yield a[0], a, None
            a = None
        elif b and (not a or _sort_key(b[0], b[1]) < _sort_key(a[0], a[1])):
            yield b[0], None, b
            b = None
        elif a and b:
            if a[1:] != b[1:]:
                yield a[0], a, b
            a = b = None


def diff_trees(
    read: Callable[[ObjectID], bytes], old: bytes, new: bytes, prefix: bytes = b""
) -> Iterator[tuple[bytes, TreeRecord | None, TreeRecord | None]]:
    """(path, old record, new record) for every entry but a directory that differs
    between the raw trees ``old`` and ``new``, their subtrees included: ``read``
    gives a subtree's raw contents by its hex id, and is asked only for subtrees
    that differ. A file that became a directory comes as the file gone and the
    directory's files new. The one tree diff: the watcher, pulls, history and
    recovery all compare trees here.
    """
    for name, a, b in raw_tree_diff(old, new):
        path = prefix + name
        a_dir, b_dir = _subtree(a), _subtree(b)
        if a_dir is None and b_dir is None:
            yield path, a, b
        else:  # a directory sorts apart from a file of its name: never paired with one
            below_a = read(a_dir) if a_dir else b""
            below_b = read(b_dir) if b_dir else b""
            yield from diff_trees(read, below_a, below_b, path + b"/")


def _subtree(record: TreeRecord | None) -> ObjectID | None:
    """The hex id of the directory ``record`` names (None: not a directory)."""
    if record is None or not stat.S_ISDIR(record[1]):
        return None
    return ObjectID(record[2].hex().encode())


def _read_record(raw: bytes, pos: int) -> tuple[TreeRecord, int]:
    m = _RECORD.match(raw, pos)
    if m is None:
        raise ValidationError(f"damaged Git tree object at byte {pos}")
    return (m.group(2), int(m.group(1), 8), m.group(3)), m.end()


def _common_prefix(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # a[:lo] == b[:lo], and they differ before hi + 1
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid : len(a) - lo] == b[len(b) - mid : len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo
