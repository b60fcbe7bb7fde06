"""Locks that keep writers apart: git's lock files, waited out while their holder
lives and removed when it died, and the ``flock`` the store lock is built on."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from dulwich.file import FileLocked

from gitmem.errors import ConflictError

T = TypeVar("T")
# A git lock file (ref, object, index) older than this, found while we hold
# the store lock, was left by a writer that died.
STALE_SECONDS = 5.0
LOCK_WAIT_SECONDS = 30.0


def with_git_lock(fn: Callable[[], T]) -> T:
    """Run ``fn``, waiting out git lock files held by live writers and
    removing those that dead writers left behind."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return fn()
        except FileLocked as e:
            lock = os.fsdecode(e.lockfilename)
            if _age(lock) > STALE_SECONDS:
                with suppress(FileNotFoundError):
                    os.remove(lock)
                continue
            if time.monotonic() > deadline:
                raise ConflictError(f"{lock} is held by another process; try again") from None
            time.sleep(0.005)


def _age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return STALE_SECONDS + 1  # gone already: try again at once


@contextmanager
def flocked(path: Path) -> Iterator[int]:
    """Hold an exclusive ``flock`` on ``path`` (made if missing), waiting for it;
    yields the open file. The kernel lets go if the holder dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)
