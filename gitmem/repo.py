"""A store's Git repository: read it at a commit, and turn one operation into
one commit under the store lock, with the branch moved by compare-and-swap and
the index and working tree kept in step (gitcheckout); after a writer that died
mid-operation, finish what it left."""

from __future__ import annotations

import functools
import os
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from dulwich.errors import ChecksumMismatch, FileFormatException, NotGitRepository
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.refs import Ref, check_ref_format
from dulwich.repo import Repo

from gitmem.errors import CorruptError, NotFoundError
from gitmem.gitcheckout import Checkout
from gitmem.gitcommit import Change, Identity
from gitmem.gitindex import TAKING, Entries, read_index
from gitmem.gitlock import flocked, identity, with_git_lock
from gitmem.gitobjects import LooseObjects, is_object_id
from gitmem.gitsnapshot import Snapshot, changed_paths
from gitmem.gittree import DIR_MODE, EMPTY, FILE_MODE, RawTree

T = TypeVar("T")
ObjT = TypeVar("ObjT", bound=ShaFile)
BRANCH = "main"
_TREE_CACHE = 256


def find_root(start: Path) -> Path:
    """The store containing ``start``, looking upward like git does."""
    start = start.resolve()
    for path in (start, *start.parents):
        if (path / "gitmem.yaml").is_file() and (path / ".git").is_dir():
            return path
    raise NotFoundError(
        f"not a gitmem store: {start} (or any parent); create one with 'gitmem init'"
    )


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
        self._loose = LooseObjects(self._git.object_store)
        self._checkout = Checkout(root, self._gitdir, self.blob, self._note_index_lock)
        self._record: list[bytes] = []  # the store lock's record while we hold it
        self._record_fd: int | None = None
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

    @property
    def git(self) -> Repo:
        """The dulwich repository, for the other git-layer modules (githistory, gitremote,
        gitwalk)."""
        return self._git

    @property
    def gitdir(self) -> Path:
        return self._gitdir

    def read_index(self, path: Path | None = None) -> Entries:
        """The index as it is now (``path``: another index file, such as the one
        ``git commit -a`` hands its hooks in ``GIT_INDEX_FILE``). Read only."""
        return read_index(str(path or self._gitdir / "index"))

    def config(self, section: tuple[str, ...], name: str) -> str | None:
        """A git setting as git reads it (repository, then global, then system)."""
        stack = self._git.get_config_stack()
        try:
            value = stack.get(tuple(s.encode() for s in section), name.encode())
        except KeyError:
            return None
        return bytes(value).decode(errors="replace")

    def set_config(self, section: tuple[str, ...], name: str, value: str) -> None:
        """Set a key in the repository's own ``.git/config``."""
        config = self._git.get_config()
        config.set(tuple(s.encode() for s in section), name.encode(), value.encode())
        config.write_to_path()

    def bases(self) -> dict[str, str | None]:
        """path -> the version a person's change started from, where an operation
        left the file alone (and git has not checked it out or staged it since);
        see ``Bases``."""
        return self._checkout.bases()

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
        if sha and not is_object_id(sha):
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
        name, email = env.get("GIT_AUTHOR_NAME"), env.get("GIT_AUTHOR_EMAIL")
        if not (name and email):
            configured = self._configured_person()
            name, email = name or configured[0], email or configured[1]
        return Identity(name or "gitmem", email or "gitmem@localhost")

    @functools.cache  # noqa: B019  # reading git's config files is ~0.7 ms; a repo lives long
    def _configured_person(self) -> tuple[str | None, str | None]:
        config = self._git.get_config_stack()
        found: list[str | None] = []
        for key in (b"name", b"email"):
            try:
                found.append(config.get((b"user",), key).decode())
            except KeyError:
                found.append(None)
        return found[0], found[1]

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
                if change.fast_forward and change.merge:
                    commit = change.merge
                    new_tree = self.snapshot(commit).tree
                else:
                    new_tree = self._write_tree(old.tree, change.files)
                    unchanged = new_tree.records == old.tree.records
                    if unchanged and new_tree.keys == old.tree.keys and not change.merge:
                        # Nothing to commit; a person's file may still need refreshing.
                        self._checkout.update(old, old, [], change.from_disk)
                        return result
                    commit = self._write_commit(old.commit, new_tree, change)
                self._loose.sync()  # durable before the branch can point at them
                if self._move_and_check_out(old, Snapshot(self, commit, new_tree), change):
                    return result
                if self.head() == old.commit:  # nobody moved it: retrying would spin forever
                    raise CorruptError(f"the branch {self.branch_ref().decode()} cannot be moved")

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
                direct[head.encode()] = (FILE_MODE, self._loose.write(b"blob", data))
        for name, sub in nested.items():
            entry = tree.get(name.encode())
            subtree = self.tree(entry.sha) if entry and entry.is_dir else EMPTY
            new_sub = self._write_tree(subtree, sub)
            direct[name.encode()] = (DIR_MODE, self._store_tree(new_sub)) if len(new_sub) else None
        return tree.with_changes(direct)

    def _store_tree(self, tree: RawTree) -> ObjectID:
        sha = self._loose.write(b"tree", tree.raw())
        self._remember(sha, tree)
        return sha

    def _write_commit(self, parent: ObjectID | None, tree: RawTree, change: Change) -> ObjectID:
        commit = Commit()
        commit.tree = self._store_tree(tree)
        commit.parents = [p for p in (parent, change.merge) if p]
        commit.author = commit.committer = bytes(change.author)
        commit.author_time = commit.commit_time = int(time.time())
        offset = time.localtime().tm_gmtoff
        commit.author_timezone = commit.commit_timezone = offset
        commit.message = change.message()
        return self._loose.write(b"commit", commit.as_raw_string())

    def _move_and_check_out(self, old: Snapshot, new: Snapshot, change: Change) -> bool:
        """Move the branch from ``old`` to ``new`` and update index and files, all
        under git's ``index.lock``; False if someone else moved the branch first.

        Taking the index lock before the compare-and-swap means that failing to
        get it changes nothing (taken after, a call could fail with its commit
        already made), and git commands that lock the index (``git add``,
        ``git commit -a``) see branch, index and files change together.
        """

        def run() -> bool:
            with self._checkout.index.locked() as index:
                if not self._move_branch(old.commit, new.commit, change):
                    return False
                self._checkout.update_locked(index, old, new, list(change.files), change.from_disk)
                return True

        return with_git_lock(run)

    def _move_branch(self, old: ObjectID | None, new: ObjectID | None, change: Change) -> bool:
        assert new is not None  # a snapshot we just committed
        refs, ref = self._git.refs, self.branch_ref()
        # Saying who and when keeps dulwich from reading every git config file
        # for the reflog entry on each operation.
        who, when, zone = bytes(change.author), int(time.time()), time.localtime().tm_gmtoff
        message = f"gitmem: {change.op}: {change.target}".encode()

        def move() -> bool:
            if old is None:
                return bool(refs.add_if_new(ref, new, who, when, zone, message))
            return bool(refs.set_if_equals(ref, old, new, who, when, zone, message))

        # Should we die holding the ref's lock file, the next writer knows it:
        # dulwich writes the commit into it only as it closes it.
        self._note(b"ref=" + new)
        try:
            return with_git_lock(move)
        finally:
            self._note(b"ref=")

    # -- the store lock --------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store lock: a thread lock for this process, ``flock`` across processes.

        The lock file records the holder, the head it started from and the git
        lock files it takes while an operation runs; finding that record means
        the last holder died mid-operation, so we clean up after it before going on.
        """
        with self._mutex, flocked(self._gitdir / "gitmem.lock") as fd:
            leftover = os.pread(fd, 400, 0).partition(b"\n")[0]
            if leftover:
                self._recover(leftover)
            self._record = [b"%d" % os.getpid(), self.head() or b""]
            self._record_fd = fd
            self._note()
            try:
                yield
            finally:
                self._record_fd = None
                os.ftruncate(fd, 0)

    def _note(self, field: bytes = b"") -> None:
        """Add ``key=value`` to the store lock's record, replacing the key's value
        (``key=``: remove it)."""
        if self._record_fd is None:
            return
        key, _, value = field.partition(b"=")
        self._record = [f for f in self._record if f.partition(b"=")[0] != key or not key]
        if value:
            self._record.append(field)
        # One write, then the cut: killed in between, the record still reads
        # whole up to its first newline.
        data = b" ".join(self._record) + b"\n"
        os.pwrite(self._record_fd, data, 0)
        os.ftruncate(self._record_fd, len(data))

    def _note_index_lock(self, lock: str) -> None:
        self._note(b"index=" + lock.encode())

    def _recover(self, record: bytes) -> None:
        """Finish what a writer killed mid-operation left: the git lock files its
        record names (only those: git's own, such as the ``index.lock`` of a
        ``git commit`` waiting for its editor, stay), and the index and files of
        a commit it made but did not check out."""
        gitdir = self._gitdir
        fields = record.split()
        taken = dict(f.partition(b"=")[::2] for f in fields[2:])
        # Killed as it created index.lock, the writer left it empty; git writes
        # the index into its own before it lets another command or a person wait.
        index_lock = gitdir / "index.lock"
        with suppress(FileNotFoundError):
            st = index_lock.stat()
            ours = taken.get(b"index")
            if ours == identity(st).encode() or (ours == TAKING.encode() and not st.st_size):
                index_lock.unlink()
        # git writes the new commit into a ref's lock file as it takes it; one
        # still empty, or holding the commit the writer was moving to, is its.
        ref_lock = gitdir / (self.branch_ref().decode() + ".lock")
        with suppress(FileNotFoundError):
            if b"ref" in taken and ref_lock.read_bytes() in (b"", taken[b"ref"] + b"\n"):
                ref_lock.unlink()
        # Only dulwich writes loose objects through lock files (git uses
        # tmp_obj_* files), and only under the store lock.
        for lock in (gitdir / "objects").glob("??/*.lock"):
            with suppress(FileNotFoundError):
                lock.unlink()
        self._checkout.remove_temporaries()
        start = fields[1] if len(fields) > 1 else None
        head = self.head()
        if start and head and start != head:
            old, new = self.snapshot(ObjectID(start)), self.snapshot(head)
            self._checkout.update(old, new, list(changed_paths(self, old.tree, new.tree)))
