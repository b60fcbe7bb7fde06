"""Files in the store's working tree, read and found without following symbolic links.

``blocks/`` and ``agents/`` hold what people, agents and other machines wrote.
A symlink there (or a ``blocks/`` that is one), a FIFO or a huge file must not
make gitmem read, write or wait on anything outside the store: such paths are
refused with a reason, never opened.

Also here: replacing a file whole (``replace_file``), and making what was
written durable (``fsync``), files and the directories whose names changed, in
batches.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gitmem.errors import ValidationError


class Refused(ValidationError):
    """A path in the store that gitmem will not read: a link, a device, too big, ..."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}:1: {reason}")
        self.path = path
        self.reason = reason


# A block id has at most 128 characters, so at most 64 '/'-separated parts.
MAX_DEPTH = 65
SYMLINK = "is a symbolic link; gitmem never follows links in the store"


def is_safe(path: str) -> bool:
    """True if ``path`` is a plain relative path that stays inside the store, outside .git.

    Names a Git tree may carry but no store path has (control characters,
    bytes that are not UTF-8, backslashes) are not safe either.
    """
    if any(c < " " or c == "\\" or "\ud800" <= c <= "\udfff" for c in path):
        return False
    return all(p not in ("", ".", "..") and p.lower() != ".git" for p in path.split("/"))


def shown(path: str) -> str:
    """``path`` printable on one line: control characters and bytes that are not
    UTF-8 (kept by ``os.fsdecode`` as surrogates) escaped."""
    raw = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in raw)


def refusal(mode: int) -> str | None:
    """Why a file with this ``lstat`` mode is not read, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    return "is not a regular file (a device, FIFO or socket)"


def check_parents(root: Path, path: str) -> None:
    """Refuse ``path`` if it leaves the store or a directory on its way is a link or a file.

    Directories that do not exist yet are fine: whoever writes creates them.
    """
    if not is_safe(path):
        raise Refused(path, "is not a path inside the store")
    current = root
    for part in path.split("/")[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(mode):
            where = current.relative_to(root).as_posix()
            raise Refused(path, f"{where} {refusal(mode) or 'is a file, not a directory'}")


def read(root: Path, path: str, cap: int) -> bytes | None:
    """The bytes of the regular file ``root/path``, or None if there is none.

    Raises Refused for a link (anywhere on the path), anything that is not a
    regular file, or a file larger than ``cap`` bytes; nothing else is opened.
    """
    check_parents(root, path)
    full = root / path
    try:
        mode = os.lstat(full).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    reason = refusal(mode)
    if reason:
        raise Refused(path, reason)
    # O_NOFOLLOW and fstat close the gap between the lstat and the open:
    # a file swapped for a link or a FIFO meanwhile is still refused.
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Refused(path, SYMLINK) from None
        raise Refused(path, f"cannot be read: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        reason = refusal(st.st_mode)
        if reason:
            raise Refused(path, reason)
        # What fstat says is there, then up to the end: reading up to cap at once
        # would allocate cap bytes first (~0.25 ms at 5 MB, on every checkout,
        # some under git's index.lock).
        chunks: list[bytes] = []
        size, want = 0, min(st.st_size, cap) + 1
        while size <= cap:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            want = min(cap + 1 - size, 1 << 16)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise Refused(path, f"is larger than {cap} bytes, more than any store file may be")
    return data


def walk(root: Path, top: str) -> Iterator[tuple[str, int]]:
    """(path, lstat mode) of everything under ``root/top`` that is not a directory,
    and of ``top`` itself if it is not one; links to directories are not entered.

    Directories nested deeper than any id can be are yielded, not entered; the
    walk keeps its own stack, so no nesting exhausts Python's.
    """
    pending = [top]
    while pending:
        path = pending.pop()
        try:
            mode = os.lstat(root / path).st_mode
            if not stat.S_ISDIR(mode) or path.count("/") > MAX_DEPTH:
                yield path, mode
                continue
            with os.scandir(root / path) as entries:
                names = sorted((e.name for e in entries), reverse=True)
        except FileNotFoundError:
            continue  # removed while we looked
        pending += (f"{path}/{name}" for name in names)


def replace_file(
    path: Path,
    data: bytes,
    *,
    tmp: Path | None = None,
    durable: bool = False,
    private: bool = False,
) -> None:
    """Put ``data`` at ``path`` whole or not at all: written to ``tmp`` (default:
    ``path`` and ``.tmp``), then renamed over ``path``. ``durable``: fsynced before
    the rename, and the rename fsynced after (only then does it last a power cut).
    ``private``: readable by this user only (mode 0600) from the start."""
    tmp = tmp or path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with os.fdopen(os.open(tmp, flags, 0o600 if private else 0o666), "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        fsync(path.parent)


def fsync(path: str | Path | int) -> None:
    """Make the file at ``path`` (or open as that descriptor) durable; for a
    directory, the names made, renamed or removed in it (a rename is durable
    only once its directory is fsynced)."""
    if isinstance(path, int):
        os.fsync(path)
        return
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO swapped in must not hang us
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_all(paths: Iterable[str | Path | int], remove: Iterable[Path] = ()) -> None:
    """fsync files and directories together: on ext4 each fsync commits the
    journal, and fsyncs issued at once share one commit (4 objects: 0.6 ms
    instead of 1.1 ms one after the other, measured). Files to ``remove`` are
    unlinked meanwhile (see ``GitIndex.replace``: freeing a file takes ms)."""
    unique = list(dict.fromkeys(paths))
    gone = list(remove)
    if len(unique) == 1 and not gone:
        fsync(unique[0])
    elif unique or gone:
        pool = _fsync_pool()
        pending = [pool.submit(fsync, p) for p in unique]
        pending += [pool.submit(_unlink, p) for p in gone]
        for done in pending:
            done.result()


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@functools.cache
def _fsync_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="gitmem-fsync")


# A forked child has the pool but not its threads: it makes its own.
os.register_at_fork(after_in_child=_fsync_pool.cache_clear)
