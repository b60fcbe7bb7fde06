"""Locks that keep writers apart: git's lock files, waited out while another
process holds them, and the ``flock`` the store lock is built on."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from dulwich.file import FileLocked

from gitmem.errors import ConflictError

T = TypeVar("T")
LOCK_WAIT_SECONDS = 30.0
# A git lock file older than this is worth reporting (gitmem check): its
# holder died, or is a git command waiting for a person. Never removed for it.
STALE_SECONDS = 5.0


class Busy(Exception):
    """Raised while git's lock files are held, to let go of them, wait and try
    again: a person's git command is at work (see ``GitIndex.busy``), or what
    was decided before taking them has changed (``Checkout.check``)."""


def with_git_lock(fn: Callable[[], T], wait: Callable[[], bool] | None = None) -> T:
    """Run ``fn``, waiting while another process holds a git lock file it needs,
    and while ``wait()`` says a person's git is at work (it may raise FileLocked
    too; ``fn`` may raise Busy).

    A lock file is never removed here, however old: git holds ``index.lock``
    for as long as the editor of a ``git commit -a`` is open. The ones a gitmem
    writer that died left behind are removed by the next one
    (``GitRepo._recover``), which knows them from the dead writer's record.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            if wait is None or not wait():
                return fn()
        except FileLocked as e:
            if time.monotonic() > deadline:
                lock = os.fsdecode(e.lockfilename)
                raise ConflictError(
                    f"{lock} is held by another process; if no git command is running, "
                    "one that died left it: remove it"
                ) from None
        except Busy:
            pass
        time.sleep(0.005)


def identity(st: os.stat_result) -> str:
    """What tells a lock file from another one at the same path while it exists
    (its inode: writes change its times; a later file may reuse the number only
    once this one is gone, and its taker forgets it then)."""
    return f"{st.st_dev}:{st.st_ino}"


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
