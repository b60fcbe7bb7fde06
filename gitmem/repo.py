"""The only module that speaks Git for local work: read the store at a commit,
and turn one operation into one commit under the store lock, with the branch
moved by compare-and-swap and the index and working tree kept in step."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dulwich.errors import ChecksumMismatch, FileFormatException, NotGitRepository
from dulwich.file import FileLocked
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.refs import Ref, check_ref_format
from dulwich.repo import Repo
from dulwich.trailers import Trailer, format_trailers, parse_trailers

from gitmem import safefs
from gitmem.block import MAX_FILE_BYTES
from gitmem.errors import ConflictError, CorruptError, NotFoundError
from gitmem.gitindex import Entries, GitIndex, entry_for
from gitmem.gittree import DIR_MODE, EMPTY, FILE_MODE, RawTree

T = TypeVar("T")
ObjT = TypeVar("ObjT", bound=ShaFile)
CommitId = ObjectID  # a commit's hex id, for modules that do not speak Git
BRANCH = "main"
# A git lock file (ref, object, index) older than this, found while we hold
# the store lock, was left by a writer that died.
STALE_SECONDS = 5.0
LOCK_WAIT_SECONDS = 30.0
_TREE_CACHE = 256
HEX_ID = re.compile(rb"[0-9a-f]{40}")


@dataclass(frozen=True)
class Identity:
    """Who a commit is by."""

    name: str
    email: str

    def __bytes__(self) -> bytes:
        return f"{self.name} <{self.email}>".encode()


def agent_identity(agent_id: str) -> Identity:
    return Identity(agent_id, f"{agent_id}@agents.gitmem")


@dataclass(frozen=True)
class Change:
    """What one operation writes: file contents by path (None deletes) and who/why."""

    files: Mapping[str, bytes | None]
    op: str
    target: str
    author: Identity
    agent: str | None = None
    blocks: tuple[str, ...] = ()

    def message(self) -> bytes:
        trailers = [Trailer("Gitmem-Op", self.op)]
        if self.agent:
            trailers.append(Trailer("Gitmem-Agent", self.agent))
        trailers += [Trailer("Gitmem-Block", b) for b in self.blocks]
        return f"{self.op}: {self.target}\n\n".encode() + format_trailers(trailers)


@dataclass(frozen=True)
class LogEntry:
    """One commit as history shows it, with the gitmem trailers read back."""

    commit: str
    parents: tuple[str, ...]
    author: str
    time: int
    subject: str
    op: str | None
    agent: str | None
    blocks: tuple[str, ...]


def _log_entry(commit: Commit) -> LogEntry:
    _, trailers = parse_trailers(commit.message)
    values: dict[str, list[str]] = {}
    for t in trailers:
        values.setdefault(t.key, []).append(t.value)
    return LogEntry(
        commit=commit.id.decode(),
        parents=tuple(p.decode() for p in commit.parents),
        author=commit.author.decode(errors="replace"),
        time=commit.author_time,
        subject=commit.message.decode(errors="replace").split("\n", 1)[0],
        op=next(iter(values.get("Gitmem-Op", [])), None),
        agent=next(iter(values.get("Gitmem-Agent", [])), None),
        blocks=tuple(values.get("Gitmem-Block", [])),
    )


def blob_id(data: bytes) -> str:
    """The Git blob id of ``data``; a block's version."""
    return str(Blob.from_string(data).id.decode())


def find_root(start: Path) -> Path:
    """The store containing ``start``, looking upward like git does."""
    start = start.resolve()
    for path in (start, *start.parents):
        if (path / "gitmem.yaml").is_file() and (path / ".git").is_dir():
            return path
    raise NotFoundError(
        f"not a gitmem store: {start} (or any parent); create one with 'gitmem init'"
    )


class Snapshot:
    """The store's files as of one commit (``commit`` is None in an empty repository)."""

    def __init__(self, repo: GitRepo, commit: ObjectID | None, tree: RawTree) -> None:
        self.repo = repo
        self.commit = commit
        self.tree = tree

    def _entry_tree(self, parts: list[bytes]) -> RawTree | None:
        tree = self.tree
        for part in parts:
            entry = tree.get(part)
            if entry is None or not entry.is_dir:
                return None
            tree = self.repo.tree(entry.sha)
        return tree

    def blob_id(self, path: str) -> str | None:
        """The blob id of the regular file ``path`` (a link or submodule there is no file)."""
        *dirs, name = path.encode().split(b"/")
        tree = self._entry_tree(dirs)
        entry = tree.get(name) if tree else None
        return entry.sha.decode() if entry is not None and entry.is_file else None

    def read(self, path: str) -> bytes | None:
        sha = self.blob_id(path)
        return None if sha is None else self.repo.blob(sha)

    def files(self, directory: str) -> Iterator[tuple[str, str]]:
        """(path, blob id) of every regular file under ``directory``, in path order."""
        for path, mode, sha in self.entries(directory):
            if stat.S_ISREG(mode):
                yield path, sha

    def entries(self, directory: str) -> Iterator[tuple[str, int, str]]:
        """(path, mode, object id) of everything under ``directory`` but directories;
        ``directory`` itself if it is not one."""
        *dirs, name = directory.encode().split(b"/")
        parent = self._entry_tree(dirs)
        entry = parent.get(name) if parent else None
        if entry is None:
            return
        if entry.is_dir:
            yield from self._walk(self.repo.tree(entry.sha), directory)
        else:
            yield directory, entry.mode, entry.sha.decode()

    def _walk(self, tree: RawTree, prefix: str) -> Iterator[tuple[str, int, str]]:
        for entry in tree:
            path = f"{prefix}/{entry.name.decode(errors='surrogateescape')}"
            if entry.is_dir:
                yield from self._walk(self.repo.tree(entry.sha), path)
            else:
                yield path, entry.mode, entry.sha.decode()


def _changed_paths(repo: GitRepo, old: RawTree, new: RawTree, prefix: str = "") -> Iterator[str]:
    old_entries = {e.name: e for e in old}
    new_entries = {e.name: e for e in new}
    for name in sorted(old_entries.keys() | new_entries.keys()):
        a, b = old_entries.get(name), new_entries.get(name)
        if a == b:
            continue
        path = prefix + name.decode(errors="surrogateescape")
        sub_a = repo.tree(a.sha) if a and a.is_dir else EMPTY
        sub_b = repo.tree(b.sha) if b and b.is_dir else EMPTY
        if (a and not a.is_dir) or (b and not b.is_dir):
            yield path
        if sub_a is not EMPTY or sub_b is not EMPTY:
            yield from _changed_paths(repo, sub_a, sub_b, path + "/")


class GitRepo:
    """A non-bare Git repository holding a store; safe to share between threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self._git = Repo(str(root))  # explicit path: never resolved from GIT_DIR
        except NotGitRepository:
            raise NotFoundError(f"{root}/.git is not a Git repository") from None
        # dulwich fsyncs only refs by default; acknowledged writes must survive a
        # crash. (Set here, not as core.fsyncObjectFiles, which git now warns about.)
        self._git.object_store.fsync_object_files = True
        self._gitdir = Path(self._git.controldir())
        self._index = GitIndex(str(self._gitdir / "index"))
        self._trees: OrderedDict[bytes, RawTree] = OrderedDict()
        self._mutex = threading.Lock()  # the store flock does not exclude our own threads
        self._cache_lock = threading.Lock()

    @classmethod
    def create(cls, root: Path) -> GitRepo:
        root.mkdir(parents=True, exist_ok=True)
        git = Repo.init(str(root), default_branch=BRANCH.encode())
        config = git.get_config()
        # git's own default for loose objects; zlib's default level is twice as slow.
        config.set((b"core",), b"looseCompression", b"1")
        config.write_to_path()
        git.close()
        return cls(root)

    def close(self) -> None:
        self._git.close()

    # -- reading ---------------------------------------------------------

    def tree(self, sha: ObjectID) -> RawTree:
        """The tree ``sha``; recently used trees stay parsed in memory (they never change)."""
        with self._cache_lock:
            tree = self._trees.get(sha)
            if tree is not None:
                self._trees.move_to_end(sha)
                return tree
        obj = self.object(sha, Tree)
        tree = RawTree.from_dulwich(obj)
        self._remember(sha, tree)
        return tree

    def _remember(self, sha: ObjectID, tree: RawTree) -> None:
        with self._cache_lock:
            self._trees[sha] = tree
            if len(self._trees) > _TREE_CACHE:
                self._trees.popitem(last=False)

    def blob(self, sha: str) -> bytes:
        return bytes(self.object(ObjectID(sha.encode()), Blob).as_raw_string())

    def object(self, sha: ObjectID, kind: type[ObjT]) -> ObjT:
        """The object ``sha``, which must be a ``kind``; CorruptError if it is missing,
        damaged or of another kind (a repository can arrive broken, e.g. by a pull)."""
        try:
            obj = self._git.object_store[sha]
        except KeyError:
            raise CorruptError(f"Git object {sha.decode()} is missing") from None
        except (FileFormatException, ChecksumMismatch, zlib.error) as e:
            raise CorruptError(f"Git object {sha.decode()} is damaged ({e})") from None
        if not isinstance(obj, kind):
            raise CorruptError(
                f"Git object {sha.decode()} is a {obj.type_name.decode()}, not a "
                f"{kind.type_name.decode()}"
            )
        return obj

    def branch_ref(self) -> Ref:
        """The branch HEAD names; CorruptError if it names none (detached, a loop, a bad name)."""
        head = self._git.refs.read_ref(Ref(b"HEAD")) or b""
        target = Ref(head.removeprefix(b"ref: "))
        if target == head or not target.startswith(b"refs/heads/") or not check_ref_format(target):
            raise CorruptError(f".git/HEAD does not name a branch: {head[:60]!r}")
        return target

    def head(self) -> ObjectID | None:
        """The branch's commit; None before the first one."""
        ref = self.branch_ref()
        sha = self._git.refs.read_ref(ref)
        if sha and not HEX_ID.fullmatch(sha):
            raise CorruptError(f".git/{ref.decode()} does not hold a commit id: {sha[:60]!r}")
        return ObjectID(sha) if sha else None

    def snapshot(self, commit: ObjectID | None = None) -> Snapshot:
        """The store at ``commit`` (default: the branch head)."""
        if commit is None:
            commit = self.head()
        if commit is None:
            return Snapshot(self, None, EMPTY)
        obj = self.object(commit, Commit)
        return Snapshot(self, commit, self.tree(obj.tree))

    def person(self) -> Identity:
        """The person behind a non-agent operation, found the way git finds an author."""
        env = os.environ
        found = {"name": env.get("GIT_AUTHOR_NAME"), "email": env.get("GIT_AUTHOR_EMAIL")}
        config = self._git.get_config_stack()
        for key, value in found.items():
            if not value:
                with suppress(KeyError):
                    found[key] = config.get((b"user",), key.encode()).decode()
        return Identity(found["name"] or "gitmem", found["email"] or "gitmem@localhost")

    def log(self, limit: int | None = None) -> list[LogEntry]:
        """The branch's commits, newest first."""
        head = self.head()
        if head is None:
            return []
        walker = self._git.get_walker(include=[head], max_entries=limit)
        return [_log_entry(entry.commit) for entry in walker]

    # -- writing ---------------------------------------------------------

    def transact(self, build: Callable[[Snapshot], tuple[Change | None, T]]) -> T:
        """Apply ``build`` to the newest state and commit what it returns.

        ``build`` may run more than once: if something outside our lock (the
        git binary) moves the branch between our read and our compare-and-swap,
        the operation is applied again to the new head, so nothing is lost.
        """
        with self._locked():
            while True:
                old = self.snapshot()
                change, result = build(old)
                if change is None:
                    return result
                new_tree = self._write_tree(old.tree, change.files)
                if new_tree.keys == old.tree.keys and new_tree.records == old.tree.records:
                    return result
                commit = self._write_commit(old.commit, new_tree, change)
                if self._move_branch(old.commit, commit, change):
                    break
                if self.head() == old.commit:  # nobody moved it: retrying would spin forever
                    raise CorruptError(f"the branch {self.branch_ref().decode()} cannot be moved")
            self._update_worktree(old, Snapshot(self, commit, new_tree), list(change.files))
            return result

    def _write_tree(self, tree: RawTree, files: Mapping[str, bytes | None]) -> RawTree:
        nested: dict[str, dict[str, bytes | None]] = {}
        direct: dict[bytes, tuple[int, ObjectID] | None] = {}
        for path, data in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                nested.setdefault(head, {})[rest] = data
            elif data is None:
                direct[head.encode()] = None
            else:
                blob = Blob.from_string(data)
                self._add_object(blob)
                direct[head.encode()] = (FILE_MODE, blob.id)
        for name, sub in nested.items():
            entry = tree.get(name.encode())
            subtree = self.tree(entry.sha) if entry and entry.is_dir else EMPTY
            new_sub = self._write_tree(subtree, sub)
            direct[name.encode()] = (DIR_MODE, self._store_tree(new_sub)) if len(new_sub) else None
        return tree.with_changes(direct)

    def _store_tree(self, tree: RawTree) -> ObjectID:
        obj = tree.to_dulwich()
        self._add_object(obj)
        self._remember(obj.id, tree)
        return obj.id

    def _write_commit(self, parent: ObjectID | None, tree: RawTree, change: Change) -> ObjectID:
        commit = Commit()
        commit.tree = self._store_tree(tree)
        commit.parents = [parent] if parent else []
        commit.author = commit.committer = bytes(change.author)
        commit.author_time = commit.commit_time = int(time.time())
        offset = time.localtime().tm_gmtoff
        commit.author_timezone = commit.commit_timezone = offset
        commit.message = change.message()
        self._add_object(commit)
        return commit.id

    def _add_object(self, obj: ShaFile) -> None:
        self._with_git_lock(lambda: self._git.object_store.add_object(obj))

    def _move_branch(self, old: ObjectID | None, new: ObjectID, change: Change) -> bool:
        refs, ref = self._git.refs, self.branch_ref()
        message = f"gitmem: {change.op}: {change.target}".encode()
        if old is None:
            return bool(self._with_git_lock(lambda: refs.add_if_new(ref, new, message=message)))
        return bool(self._with_git_lock(lambda: refs.set_if_equals(ref, old, new, message=message)))

    def _with_git_lock(self, fn: Callable[[], T]) -> T:
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

    # -- index and working tree -----------------------------------------

    def _update_worktree(self, old: Snapshot, new: Snapshot, paths: list[str]) -> None:
        """Make index and files match ``new`` for ``paths``, except where a person
        has changed a file (on disk or staged) since ``old``: that is left alone."""

        def update() -> None:
            with self._index.locked() as index:
                for path in paths:
                    self._sync_path(index, path, old.blob_id(path), new.blob_id(path))

        self._with_git_lock(update)

    def _sync_path(
        self, index: Entries, path: str, old_sha: str | None, new_sha: str | None
    ) -> None:
        # A link or a file on the way (blocks/ -> elsewhere), or a name that
        # leaves the store, is left alone like a person's change: never
        # written, read or deleted through.
        try:
            safefs.check_parents(self.root, path)
        except safefs.Refused:
            return
        name = path.encode()
        staged = index.sha(name)
        if index.conflicted(name) or (staged.decode() if staged else None) != old_sha:
            return
        full = self.root / path
        if self._disk_blob_id(path) != old_sha:
            return
        if new_sha is None:
            with suppress(FileNotFoundError):
                full.unlink()
            _remove_empty_dirs(full.parent, self.root)
            index.set(name, None)
            return
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._gitdir / "gitmem" / f"tmp-{os.getpid()}-{threading.get_ident()}"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(self.blob(new_sha))
        os.replace(tmp, full)
        index.set(name, entry_for(str(full), ObjectID(new_sha.encode())))

    def _disk_blob_id(self, path: str) -> str | None:
        """The blob id of the file on disk; a link, FIFO, directory, ... is no blob."""
        try:
            data = safefs.read(self.root, path, MAX_FILE_BYTES)
        except safefs.Refused as e:
            return e.reason
        return None if data is None else blob_id(data)

    # -- the store lock --------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store lock: a thread lock for this process, ``flock`` across processes.

        The lock file records the holder and the head it started from while
        an operation runs; finding that record means the last holder died
        mid-operation, so we clean up after it before going on.
        """
        path = self._gitdir / "gitmem.lock"
        with self._mutex:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                leftover = os.pread(fd, 200, 0)
                if leftover:
                    self._recover(leftover)
                head = self.head() or b""
                os.pwrite(fd, b"%d %s\n" % (os.getpid(), head), 0)
                try:
                    yield
                finally:
                    os.ftruncate(fd, 0)
            finally:
                os.close(fd)

    def _recover(self, record: bytes) -> None:
        """Finish what a writer killed mid-operation left: its git lock files,
        and the index and files of a commit it made but did not check out."""
        gitdir = self._gitdir
        for lock in (gitdir / "index.lock", gitdir / (self.branch_ref().decode() + ".lock")):
            with suppress(FileNotFoundError):
                lock.unlink()
        objects = gitdir / "objects"
        for lock in objects.glob("??/*.lock"):
            with suppress(FileNotFoundError):
                lock.unlink()
        for tmp in (gitdir / "gitmem").glob("tmp-*"):
            with suppress(FileNotFoundError):
                tmp.unlink()
        fields = record.split()
        start = fields[1] if len(fields) > 1 else None
        head = self.head()
        if start and head and start != head:
            old, new = self.snapshot(ObjectID(start)), self.snapshot(head)
            self._update_worktree(old, new, list(_changed_paths(self, old.tree, new.tree)))


def _age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return STALE_SECONDS + 1  # gone already: try again at once


def _remove_empty_dirs(directory: Path, root: Path) -> None:
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                return
            raise
        directory = directory.parent
