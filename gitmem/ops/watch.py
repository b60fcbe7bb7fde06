"""``gitmem watch``: one watchdog observer per store that

- commits files people save under blocks/ and agents/, as ``gitmem commit``
  does, once a save has settled (editors write in several steps), and
- turns every new commit on the branch, whoever made it, into events for
  the agents attached to the blocks it changed (see events.py).

New commits are noticed from the branch ref (its file, ``packed-refs``, HEAD)
changing, never by polling the object store. When the branch moved several
commits, they are walked along first parents, oldest first, each compared with
the one before: a merge (a pull) is one set of events for what it brought.
A cursor (``.git/gitmem/cursors/NAME``) keeps the last commit delivered, so a
restarted watcher first delivers what it missed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from gitmem.errors import GitmemError, ValidationError
from gitmem.git import safefs
from gitmem.git import walk as gitwalk
from gitmem.git.commit import CommitId, LogEntry
from gitmem.git.editors import locked_file
from gitmem.git.objects import is_object_id
from gitmem.git.state import read_state
from gitmem.model.ids import DIRS, check_agent_id
from gitmem.ops.events import Event, Report, events
from gitmem.ops.store import Store
from gitmem.ops.worktree import GitAtWork, commit_changed, is_store_file, status

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

DEBOUNCE = 0.075  # seconds a file must be quiet before it is committed
MAX_DELAY = 1.0  # ... unless it has been written to for this long
# inotify drops events when its queue overflows (a huge pull) and network file
# systems send none: the branch is read again this often, which costs ~50 us.
RECHECK = 2.0
# watchdog holds the first half of a rename back for up to HELD_BACK seconds,
# and what comes after it waits too. The branch ref is renamed into place, so
# after any sign of a ref changing, it is read again after 2, 4, 8 ... ms until
# that time is over: a commit landing while watchdog holds back is still told
# within about the time since that sign (measured: 1 commit in ~200 otherwise
# came 500 ms late).
HELD_BACK = 0.5
FIRST_LOOK = 0.002
_CURSOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

log = logging.getLogger("gitmem.ops.watch")


class CursorHeld(GitmemError):
    """Another watcher is running with the same cursor."""


class Watcher:
    """Watches a store from the moment it is made: iterate it for events (one
    consumer at a time), or ``start(callback)``; ``close()`` stops it.

    ``agents``: only events for these agents (default: every agent).
    ``cursor``: the name under which the last delivered commit is kept; without
    it, events start at the head as it is now. ``commit``: commit files saved on
    disk (False: only report them). ``report``: where problems go, one line each
    (``path:line: message``; default: the ``gitmem.ops.watch`` logger).

    ``last`` is the last commit whose events were all delivered. Delivery is
    at least once: a commit's events are delivered again after a restart
    unless the consumer came back for more after its last one (or the watcher
    was closed after it). An agent is told of its own changes too: ``author``
    and ``op`` say whose they were. Saves staged with ``git add`` are left to
    git (see ``worktree.commit_changed``).
    """

    def __init__(
        self,
        root: Path,
        *,
        agents: Sequence[str] | None = None,
        cursor: str | None = None,
        commit: bool = True,
        report: Report | None = None,
        debounce: float = DEBOUNCE,
    ) -> None:
        self.agents = None if agents is None else [check_agent_id(a) for a in agents]
        if cursor is not None and not _CURSOR.fullmatch(cursor):
            raise ValidationError(
                f"invalid cursor name {cursor!r}: use up to 128 letters, digits, '.', '_' "
                "and '-', starting with a letter or digit"
            )
        self._report = report or log.warning
        self._commit = commit
        self._debounce = debounce
        self._reader = Store(root)  # events (the consumer's thread)
        self._writer = Store(root)  # commits of saved files (a thread of its own)
        self.root = self._reader.root
        gitdir = self._reader.repo.gitdir
        self._cursor = gitdir / "gitmem" / "cursors" / cursor if cursor else None
        self._closed = threading.Event()
        self._moved = threading.Event()  # the branch ref may have changed
        self._quiet = FIRST_LOOK  # how long to wait before reading the branch again
        self._consuming = threading.Lock()
        self._steps: deque[tuple[CommitId, LogEntry, str | None]] = deque()
        self._queue: deque[Event] = deque()
        self._delivering: CommitId | None = None
        self._seen_problems: set[str] = set()
        self._disk = threading.Condition()
        self._pending: set[str] = set()
        self._sweep = True  # commit what changed before we started, too
        self._git_state: str | None = None  # the state of git last said (None: at rest)
        self._due = self._first = time.monotonic()
        self._threads: list[threading.Thread] = []
        self._observer: BaseObserver | None = None
        self._held: int | None = None  # the cursor's lock, kept open while we run
        try:
            self._held = self._hold_cursor()
            # Watch before reading the head: nothing that lands after the read is missed.
            self._observer = _observe(self.root, gitdir, self._ref_moved, self._changed_on_disk)
            self.last = self._start()
            self._spawn(self._commit_loop, "gitmem-watch-commit")
        except BaseException:
            self.close()
            raise
        for agent in self.agents or ():
            if self._reader.view().find_agent(agent) is None:
                self._report(f"agent {agent!r} does not exist (yet); watching for it")

    # -- where to start ----------------------------------------------------

    def _start(self) -> CommitId | None:
        head = self._reader.repo.head()
        if self._cursor is None:
            return head
        try:
            saved = self._cursor.read_text().strip()
        except FileNotFoundError:
            self._save_cursor(head)
            return head
        if is_object_id(saved) and gitwalk.entry(self._reader.repo, CommitId(saved.encode())):
            return CommitId(saved.encode())
        self._report(
            f"{self._cursor}: commit {saved[:40]!r} is not in the repository; "
            f"starting from the head, changes since it was saved are not delivered"
        )
        self._save_cursor(head)
        return head

    def _hold_cursor(self) -> int | None:
        """Take the cursor for this watcher's life (an ``flock`` on ``.NAME.lock``
        beside it, with our pid): two watchers moving one cursor would each
        skip what the other delivered. The kernel lets go if we die."""
        if self._cursor is None:
            return None
        self._cursor.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._cursor.with_name(f".{self._cursor.name}.lock"), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise CursorHeld(
                f"cursor {self._cursor.name!r} is held by another watcher (pid {holder}); "
                "stop it or use another --cursor"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def _save_cursor(self, commit: CommitId | None) -> None:
        if self._cursor is None or commit is None:
            return
        self._cursor.parent.mkdir(parents=True, exist_ok=True)
        # A hidden name, which no cursor has.
        tmp = self._cursor.with_name(f".{self._cursor.name}.{os.getpid()}.tmp")
        safefs.replace_file(self._cursor, commit + b"\n", tmp=tmp)

    # -- events ------------------------------------------------------------

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        """The next event, waiting for one; StopIteration once closed."""
        with self._consuming:
            try:
                return self._next()
            finally:
                if self._closed.is_set():
                    self._reader.close()

    def _delivered(self) -> None:
        """Coming back for more means the events taken so far were handled: once
        all of a commit's events were, the cursor moves past it."""
        if self._delivering is not None and not self._queue:
            self.last, self._delivering = self._delivering, None
            self._save_cursor(self.last)

    def _next(self) -> Event:
        while True:
            if self._closed.is_set():
                self._delivered()
                raise StopIteration
            if self._queue:
                return self._queue.popleft()
            self._delivered()
            if self._steps:
                base, entry, op = self._steps.popleft()
                self._queue.extend(self._events(base, entry, op))
                self._delivering = CommitId(entry.commit.encode())
                continue
            self._moved.clear()  # before reading: a move after the read wakes us again
            if self._closed.is_set():
                continue
            head = self._reader.repo.head()
            if head is None or head == self.last:
                told = self._moved.wait(self._quiet if self._quiet <= HELD_BACK else RECHECK)
                self._quiet = FIRST_LOOK if told else min(self._quiet * 2, RECHECK)
                self._check_threads()
                continue
            self._quiet = FIRST_LOOK  # the branch moved: more may follow
            if self.last is None:
                self.last = head
            else:
                self._steps.extend(self._walk(self.last, head))

    def _walk(self, old: CommitId, new: CommitId) -> list[tuple[CommitId, LogEntry, str | None]]:
        """(base, commit, op) for each step from ``old`` to ``new``, oldest first."""
        repo = self._reader.repo
        chain = gitwalk.first_parents(repo, old, new)
        if chain is not None:
            return [(CommitId(e.parents[0].encode()), e, None) for e in chain]
        head = gitwalk.entry(repo, new)
        assert head is not None  # the branch points at it
        if gitwalk.is_ancestor(repo, old, new):
            return [(old, head, None)]  # came in on a merge's other side
        if gitwalk.entry(repo, old) is None:
            self._report(
                f"history was rewritten: {old.decode()[:10]} is gone; "
                f"continuing from {new.decode()[:10]} (changes in between are not delivered)"
            )
            self.last = new
            self._save_cursor(new)
            return []
        self._report(
            f"history was rewritten: {old.decode()[:10]} is not in the history of "
            f"{new.decode()[:10]}; telling the difference as one change (op 'rewrite')"
        )
        return [(old, head, "rewrite")]

    def _events(self, base: CommitId, entry: LogEntry, op: str | None) -> list[Event]:
        new = CommitId(entry.commit.encode())
        changed = gitwalk.changed_files(self._reader.repo, base, new, DIRS)
        if not changed:
            return []
        before, after = self._reader.view(base), self._reader.view(new)
        return events(
            before, after, changed, entry, agents=self.agents, op=op, report=self._report_once
        )

    def _report_once(self, message: str) -> None:
        # A file committed invalid (plain git without the hook) stays so for
        # many commits: say it once.
        if message not in self._seen_problems:
            self._seen_problems.add(message)
            self._report(message)

    def start(self, callback: Callable[[Event], None]) -> Watcher:
        """Deliver events to ``callback`` in a thread of their own until ``close()``;
        an exception in the callback is reported and delivery goes on."""

        def deliver() -> None:
            for event in self:
                try:
                    callback(event)
                except Exception as e:
                    self._report(f"watch callback failed on {event.line()}: {e!r}")

        self._spawn(deliver, "gitmem-watch-deliver")
        return self

    # -- files saved on disk -----------------------------------------------

    def _changed_on_disk(self, path: str | None) -> None:
        """A file under blocks/ or agents/ changed (None: something bigger, such
        as a directory moved away: look at everything)."""
        now = time.monotonic()
        with self._disk:
            if not (self._pending or self._sweep):
                self._first = now
            if path is None:
                self._sweep = True
            else:
                self._pending.add(path)
            self._due = now + self._debounce
            self._disk.notify()

    def _commit_loop(self) -> None:
        while True:
            with self._disk:
                while True:
                    now = time.monotonic()
                    if self._pending or self._sweep:
                        due = min(self._due, self._first + MAX_DELAY)
                        if now >= due:
                            break
                        self._disk.wait(due - now)
                    elif self._closed.is_set():
                        return
                    else:
                        self._disk.wait()
                paths = None if self._sweep else sorted(self._pending)
                self._pending, self._sweep = set(), False
            self._settle(paths)

    def _settle(self, paths: list[str] | None) -> None:
        try:
            if not self._at_rest():
                return
            if not self._commit:
                for s in status(self._writer, paths, staged=False):
                    self._report(s.problem or f"{s.path}: {s.change}; not committed (--no-commit)")
                return
            try:
                outcome = commit_changed(self._writer, paths, staged=False)
            except GitAtWork:
                self._changed_on_disk(None)  # look again once git is done
                return
            for problem in outcome.refused.values():
                self._report(problem)
            for conflict in outcome.conflicts:
                self._report(
                    conflict.merged.report("disk", "branch")
                    + f"\n{conflict.merged.path}: not committed; your file is as you left it"
                )
        except (GitmemError, OSError) as e:
            self._report(f"could not commit {', '.join(paths or ['changed files'])}: {e}")

    def _ref_moved(self) -> None:
        self._moved.set()
        if self._git_state is not None:  # git may be back at rest: files saved meanwhile
            self._changed_on_disk(None)

    def _at_rest(self) -> bool:
        """Whether saved files may be committed: git is at rest on the branch (not
        detached, rebasing, ...). Says so once for each state it is in instead."""
        said = read_state(self._writer.repo).describe()
        if said is not None and said != self._git_state:
            self._report(f"{said}; files saved meanwhile are left to you, not committed")
        self._git_state = said
        return said is None

    # -- running and stopping ----------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            except Exception as e:
                _deaths[threading.current_thread()] = e
                self._report(f"gitmem watch: {name} failed: {type(e).__name__}: {e}")
                self._moved.set()  # the consumer looks at once

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _check_threads(self) -> None:
        """Stop with an error if a thread the watcher needs died (watchdog's,
        or our commits'): it would go on running deaf."""
        threads = [*self._threads, *(_threads_of(self._observer) if self._observer else [])]
        for thread in threads:
            if not thread.is_alive() and not self._closed.is_set():
                died = _deaths.get(thread)
                why = f"{type(died).__name__}: {died}" if died else "it stopped"
                raise GitmemError(
                    f"watching {self.root} failed ({why}); stopping rather than missing "
                    "saves and commits"
                )

    def close(self) -> None:
        """Stop watching: saves still settling are committed first; an iteration
        in progress ends (StopIteration)."""
        self._closed.set()
        self._moved.set()
        with self._disk:
            self._disk.notify()
        if self._observer is not None:
            self._observer.stop()
            if self._observer.is_alive():
                self._observer.join()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
        self._writer.close()
        # An iteration running in another thread ends first. (A KeyboardInterrupt
        # raised inside it might have left the lock taken: then do not hang.)
        if self._consuming.acquire(timeout=RECHECK * 2):
            self._reader.close()
            self._consuming.release()
        if self._held is not None:
            os.close(self._held)  # the cursor is free for the next watcher
            self._held = None

    def __enter__(self) -> Watcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _observe(
    root: Path, gitdir: Path, ref_moved: Callable[[], None], saved: Callable[[str | None], None]
) -> BaseObserver:
    """Start a watchdog observer on the store: ``ref_moved()`` when the branch may
    be moving, ``saved(path)`` when a block or manifest changed on disk (None:
    a directory did; look at everything). The rest (objects, index, logs,
    editors' temp files: ~1,000 events for a pull) is dropped here, cheaply.

    The refs get watches of their own, away from the many renames of the
    working tree and the objects (see HELD_BACK).
    """
    from watchdog import events as fs
    from watchdog.observers import Observer

    top, git = f"{root}{os.sep}", f"{gitdir}{os.sep}"
    inside = tuple(f"{d}/" for d in DIRS)
    wanted: list[type[fs.FileSystemEvent]] = [
        fs.FileCreatedEvent,
        fs.FileModifiedEvent,
        fs.FileClosedEvent,  # closed after writing; reads are not wanted
        fs.FileMovedEvent,
        fs.FileDeletedEvent,
        fs.DirMovedEvent,
        fs.DirDeletedEvent,  # a directory moved out of the tree comes as this
    ]

    def on_disk(path: str, is_dir: bool, gone: bool) -> None:
        if path.startswith(top) and not path.startswith(git):
            name = path[len(top) :]
            if is_dir and (name in DIRS or name.startswith(inside)):
                saved(None)
            elif name.startswith(inside) and is_store_file(name):
                saved(name)
            elif gone and name.startswith(inside):
                # An editor closed the file: what operations left to its buffer
                # can be brought up to date now (see git/checkout.py).
                locked = locked_file(name)
                if locked is not None and is_store_file(locked):
                    saved(locked)

    def on_ref(path: str, is_dir: bool, gone: bool) -> None:
        # Lock files count: a ref's lock is written just before it is renamed
        # over the ref, and that rename may be the one held back.
        name = path[len(git) :]
        if name.startswith(("HEAD", "packed-refs", "refs/")):
            ref_moved()

    def handler(seen: Callable[[str, bool, bool], None]) -> fs.FileSystemEventHandler:
        class Handler(fs.FileSystemEventHandler):
            def on_any_event(self, event: fs.FileSystemEvent) -> None:
                gone = event.event_type in (fs.EVENT_TYPE_DELETED, fs.EVENT_TYPE_MOVED)
                seen(os.fsdecode(event.src_path), event.is_directory, gone)
                if event.dest_path:
                    seen(os.fsdecode(event.dest_path), event.is_directory, False)

        return Handler()

    logging.getLogger("watchdog.observers.inotify").addFilter(_stop_race)
    if threading.excepthook is not _keep_death:
        global _other_hook
        _other_hook, threading.excepthook = threading.excepthook, _keep_death
    # A directory made while the observer walks its parent (.git/objects/xx, by
    # a commit) is added twice; watchdog warns, and nothing is wrong (watchdog 7).
    warnings.filterwarnings(
        "ignore", r"Callback with id .* already exists", RuntimeWarning, r"watchdog\."
    )
    observer = Observer()
    observer.schedule(handler(on_disk), str(root), recursive=True, event_filter=wanted)
    refs = handler(on_ref)
    observer.schedule(refs, str(gitdir), recursive=False, event_filter=wanted)
    observer.schedule(refs, str(gitdir / "refs" / "heads"), recursive=True, event_filter=wanted)
    try:
        observer.start()  # watches every directory, recursively
    except (OSError, RecursionError) as e:  # too deep a tree; inotify's watch limit
        raise GitmemError(f"cannot watch {root}: {type(e).__name__}: {e}") from None
    return observer


def _stop_race(record: logging.LogRecord) -> bool:
    # watchdog's inotify thread may run once more after stop() and logs this as
    # an error (watchdog 6-7); nothing is lost, so it is not shown.
    return "called when the thread is inactive" not in str(record.msg)


def _threads_of(observer: BaseObserver) -> list[threading.Thread]:
    """The observer's threads: its own, its emitters', and the reader of its
    inotify descriptor, which watchdog keeps private (and where a directory
    tree too deep for Python's recursion ends it, watchdog 7)."""
    reader = getattr(observer, "_inotify_fd", None)
    readers = [reader] if isinstance(reader, threading.Thread) else []
    return [observer, *observer.emitters, *readers]


# Why a watcher's thread died, for the error it then stops with (see _check_threads).
_deaths: dict[threading.Thread, BaseException] = {}
_other_hook = threading.excepthook


def _keep_death(args: threading.ExceptHookArgs) -> None:
    """An exception that ends one of watchdog's threads is kept for the watcher's
    error instead of printed as a traceback; other threads' go on as before."""
    from watchdog.utils import BaseThread

    if isinstance(args.thread, BaseThread) and isinstance(args.exc_value, Exception):
        _deaths[args.thread] = args.exc_value
    else:
        _other_hook(args)
