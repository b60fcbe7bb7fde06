"""What editors leave on disk beside a file: the lock that says a buffer has the
file open, and the versions of the file such a buffer may hold.

An operation that would rewrite a file an editor has open leaves it alone (a
save from the buffer would undo the rewrite). Editors that take no lock (most
GUI editors, autosave, scripts) save a buffer loaded before gitmem rewrote the
file, so every version gitmem replaced on disk is kept as a version a later
save may be derived from (see ``worktree.derived_from``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from contextlib import suppress
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from gitmem.git import safefs
from gitmem.git.objects import is_object_id

# vim (and nano, which writes the same lock) name a second and third session's
# swap file .swo and .swn; more sessions on one file are not looked for.
SWAP_SUFFIXES = (".swp", ".swo", ".swn")
_B0_MAGIC = b"b0"
_B0_PID = slice(24, 28)  # vim's block 0: little-endian pid of the process holding it
_B0_HOST = slice(68, 108)
KEEP = 8  # replaced versions kept per path
# What editors keep beside the file they edit, as .gitignore patterns: vim's
# swap files and its write probe (4913), emacs' lock (.#x), auto-save (#x#) and
# backup (x~), other editors' *.tmp. A store's .gitignore lists them, so that
# `git add -A` skips them as gitmem does (is_editor_file).
IGNORED = ("*.swp", "*.swo", "*.swx", "*~", ".#*", "\\#*#", "*.tmp", "4913")
_SUFFIXES = tuple(p[1:] for p in IGNORED if p.startswith("*"))
_NAMES = tuple(p for p in IGNORED if "*" not in p)


def is_editor_file(name: str) -> bool:
    """Whether a file called ``name`` is an editor's temporary, lock or backup
    file, or hidden (``.x.md.swp``, ``.#x.md``): never a person's block or manifest."""
    return name.startswith((".", "#")) or name.endswith(_SUFFIXES) or name in _NAMES


def locked_file(lock: str) -> str | None:
    """The file whose editor lock ``lock`` is (a store path), or None: not a lock."""
    directory, _, name = lock.rpartition("/")
    prefix = f"{directory}/" if directory else ""
    if name.startswith(".#") and len(name) > 2:
        return prefix + name[2:]
    if name.startswith(".") and name.endswith(SWAP_SUFFIXES) and len(name) > 5:
        return prefix + name[1:-4]
    return None


def held(root: Path, path: str) -> bool:
    """Whether an editor has the file at ``path`` open: a live vim (or nano) swap
    file ``.name.swp`` beside it or in neovim's swap directory, or emacs' lock
    ``.#name``. A lock left by a process that died on this host does not count."""
    # Strings, not Paths: this runs for every file an operation rewrites.
    full = os.path.join(root, path)
    directory, name = os.path.split(full)
    swaps = [f"{directory}/.{name}{suffix}" for suffix in SWAP_SUFFIXES]
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    swaps.append(f"{state}/nvim/swap/{full.replace('/', '%')}.swp")  # neovim's default
    for swap in swaps:
        with suppress(OSError):
            if _swap_live(swap):
                return True
    with suppress(OSError):
        return _emacs_lock_live(os.readlink(f"{directory}/.#{name}"))
    return False


def _swap_live(swap: str) -> bool:
    # Never through a link, never waiting on a FIFO: the store's files are
    # anyone's (see safefs).
    fd = os.open(swap, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        block0 = f.read(_B0_HOST.stop)
    if not block0.startswith(_B0_MAGIC) or len(block0) < _B0_HOST.stop:
        return True  # not vim's format: some other editor's lock, taken as held
    pid = int.from_bytes(block0[_B0_PID], "little")
    host = block0[_B0_HOST].split(b"\0", 1)[0].decode(errors="replace")
    return _alive(pid, host)


def _emacs_lock_live(target: str) -> bool:
    # user@host.pid:boot-time
    host_pid = target.rpartition("@")[2].partition(":")[0]
    host, _, pid = host_pid.rpartition(".")
    return not pid.isdigit() or _alive(int(pid), host)


def _alive(pid: int, host: str) -> bool:
    """Whether process ``pid`` on ``host`` may still run (another host's: assume so)."""
    if host and host != socket.gethostname():
        return True  # a shared file system: this host cannot tell
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class Version(NamedTuple):
    """A version of a file gitmem replaced on disk or left to an editor's buffer."""

    sha: str
    saved: bool  # a person's save that gitmem merged: never the branch's version


class Replaced:
    """Per path, the last ``KEEP`` versions gitmem replaced on disk or left to an
    editor's buffer: ``<directory>/<quoted path>``, one blob id a line (then
    `` saved`` for a person's save), newest last. Written under the store lock."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _file(self, path: str) -> Path:
        name = quote(path, safe="")
        if len(name) > 200:  # file names stop at 255 bytes; ids with many '/' get there
            name = hashlib.sha1(path.encode()).hexdigest()
        return self._directory / name

    def add(self, path: str, version: Version) -> None:
        """Keep ``version`` of ``path``. This runs after the branch moved: failing
        to keep it (a full disk) only loses a candidate base, never the
        operation, so the error is not raised."""
        with suppress(OSError):
            self._add(path, version)

    def _add(self, path: str, version: Version) -> None:
        file = self._file(path)
        line = _line(version)
        try:
            fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            self._directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > 2 * KEEP * len(line):
            safefs.replace_file(file, b"".join(_line(v) for v in reversed(self.get(path))))

    def get(self, path: str) -> list[Version]:
        """The kept versions of ``path``, newest first, each once."""
        try:
            lines = self._file(path).read_bytes().splitlines()
        except FileNotFoundError:
            return []
        found: dict[str, Version] = {}
        for line in reversed(lines):
            sha, _, kind = line.partition(b" ")
            if is_object_id(sha) and sha.decode() not in found:
                found[sha.decode()] = Version(sha.decode(), kind == b"saved")
        return list(found.values())[:KEEP]


def _line(version: Version) -> bytes:
    return f"{version.sha}{' saved' if version.saved else ''}\n".encode()
