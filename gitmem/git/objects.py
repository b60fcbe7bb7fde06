"""Git objects as raw bytes: the id git gives them, and writing them loose,
straight from their bytes, made durable together before a ref may point at them."""

from __future__ import annotations

import hashlib
import os
import zlib

from dulwich.errors import FileFormatException
from dulwich.file import GitFile
from dulwich.object_store import DiskObjectStore
from dulwich.objects import ObjectID, object_class, valid_hexsha

from gitmem.git import safefs
from gitmem.git.lock import with_git_lock


def is_object_id(text: str | bytes) -> bool:
    """Whether ``text`` is a full object id of a SHA-1 repository (40 hex digits)."""
    # dulwich's valid_hexsha raises, not says no, for text that is not ASCII.
    return len(text) == 40 and text.isascii() and valid_hexsha(text)


def object_id(kind: bytes, raw: bytes) -> ObjectID:
    """The id git gives an object of ``kind`` (b"blob", b"tree", ...) with contents ``raw``."""
    header = b"%s %d\0" % (kind, len(raw))
    return ObjectID(hashlib.sha1(header + raw).hexdigest().encode())


def blob_id(data: bytes) -> str:
    """The Git blob id of ``data``; a block's version."""
    return object_id(b"blob", data).decode()


class LooseObjects:
    """Objects written to a repository's object store, not yet durable until ``sync``."""

    def __init__(self, store: DiskObjectStore) -> None:
        self._store = store
        self._path = str(store.path)
        # Objects written and the directories naming them, not yet fsynced.
        self._unsynced: list[str] = []

    def write(self, kind: bytes, raw: bytes) -> ObjectID:
        """Write a loose object from its raw contents; ``sync`` fsyncs it.

        dulwich's add_object wants a parsed object; parsing a 10,000-entry tree we
        have just built costs ~3 ms a commit, so the bytes go straight to disk.
        """
        sha = object_id(kind, raw)
        directory = os.path.join(self._path, sha[:2].decode())
        path = os.path.join(directory, sha[2:].decode())
        try:
            os.utime(path)  # already there; a fresh mtime keeps gc from pruning it
            # It may be one a killed writer never fsynced.
            self._unsynced += (path, directory)
            return sha
        except FileNotFoundError:
            pass
        if kind == b"blob" and self._store.contains_packed(sha):
            return sha  # a pulled file, already in a pack (~20 us to ask)
        try:
            os.mkdir(directory)
            self._unsynced.append(self._path)  # objects/ names a new directory
        except FileExistsError:
            pass
        data = zlib.compress(b"%s %d\0" % (kind, len(raw)) + raw, 1)

        def write() -> None:
            with GitFile(path, "wb", mask=0o444, fsync=False) as f:
                f.write(data)

        with_git_lock(write)
        self._unsynced += (path, directory)
        return sha

    def read(self, sha: ObjectID) -> tuple[int, bytes] | None:
        """The type number and contents of ``sha`` if it is a loose object (None: it
        is not), as dulwich's get_raw gives them, but unparsed: get_raw parses a
        loose tree entry by entry first, which the raw tree diff is there to avoid."""
        try:
            with open(os.path.join(self._path, sha[:2].decode(), sha[2:].decode()), "rb") as f:
                data = zlib.decompress(f.read())
        except FileNotFoundError:
            return None
        header, _, raw = data.partition(b"\0")
        kind, _, size = header.partition(b" ")
        cls = object_class(kind)
        if cls is None or not size.isdigit() or int(size) != len(raw):
            raise FileFormatException(f"bad loose object header {header[:40]!r}")
        return cls.type_num, raw

    def sync(self) -> None:
        """fsync the objects written since the last ``sync`` and the directories
        their names are in, together (see ``safefs.fsync_all``)."""
        paths, self._unsynced = self._unsynced, []
        safefs.fsync_all(paths)
