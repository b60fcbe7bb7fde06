"""A store's Git repository: read it at a commit, and turn one operation into
one commit under the store lock, with the branch moved by compare-and-swap and
the index and working tree kept in step (gitcheckout); after a writer that died
mid-operation, finish what it left."""

from __future__ import annotations

import fcntl
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

from dulwich.config import ConfigFile, StackedConfig
from dulwich.errors import ChecksumMismatch, FileFormatException, NotGitRepository
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.refs import Ref, check_ref_format
from dulwich.repo import DefaultIdentityNotFound, Repo, get_user_identity

from gitmem.errors import CorruptError, NotFoundError
from gitmem.git import safefs
from gitmem.git.checkout import Checkout
from gitmem.git.commit import Change, Identity
from gitmem.git.editors import Version
from gitmem.git.index import TAKING, Entries, read_index
from gitmem.git.lock import STALE_SECONDS, flocked, identity, with_git_lock
from gitmem.git.objects import LooseObjects, is_object_id
from gitmem.git.snapshot import Snapshot, diff
from gitmem.git.tree import DIR_MODE, EMPTY, FILE_MODE, RawTree

T = TypeVar("T")
ObjT = TypeVar("ObjT", bound=ShaFile)
BRANCH = "main"  # a new store's branch
HEADS = b"refs/heads/"
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

    def __init__(self, root: Path, *, max_file: int) -> None:
        """``max_file``: the largest working-tree file read, in bytes (the
        store's own cap: git has none)."""
        self.root = root
        self.max_file = max_file
        try:
            self._git = Repo(str(root))  # explicit path: never resolved from GIT_DIR
        except NotGitRepository:
            raise NotFoundError(f"{root}/.git is not a Git repository") from None
        # dulwich fsyncs only refs by default; acknowledged writes must survive a
        # crash. (Set here, not as core.fsyncObjectFiles, which git now warns about.)
        self._git.object_store.fsync_object_files = True
        self._gitdir = Path(self._git.controldir())
        self._loose = LooseObjects(self._git.object_store)
        self._checkout = Checkout(
            root, self._gitdir, self.blob, self._note_index_lock, cap=max_file
        )
        self._record: list[bytes] = []  # the store lock's record while we hold it
        self._record_fd: int | None = None
        self._trees: OrderedDict[bytes, RawTree] = OrderedDict()
        self._branch: Ref | None = None  # see use_branch
        self._mutex = threading.Lock()  # the store flock does not exclude our own threads
        self._unfinished = False  # index and files left behind the branch: see _locked
        self._cache_lock = threading.Lock()

    @staticmethod
    def init(root: Path) -> None:
        """Make an empty repository at ``root`` (open it with ``GitRepo(root)``)."""
        root.mkdir(parents=True, exist_ok=True)
        git = Repo.init(str(root), default_branch=BRANCH.encode())
        config = git.get_config()
        # git's own default for loose objects; zlib's default level is twice as slow.
        config.set((b"core",), b"looseCompression", b"1")
        config.write_to_path()
        git.close()

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

    def index_stamp(self) -> tuple[int, int, int] | None:
        """The index file's inode, size and mtime, to tell whether git rewrote it;
        None while git holds ``index.lock`` (it is changing index and files, and
        moves HEAD after): nothing on disk is a person's save then."""
        index = self._gitdir / "index"
        try:
            if time.time() - os.stat(f"{index}.lock").st_mtime < STALE_SECONDS:
                return None
        except FileNotFoundError:
            pass
        try:
            st = os.stat(index)
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

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

    def remove_config(self, section: tuple[str, ...]) -> bool:
        """Remove a section from the repository's own ``.git/config``; False if it
        had none."""
        config = self._git.get_config()
        key = tuple(s.encode() for s in section)
        if not config.has_section(key):
            return False
        del config[key]
        config.write_to_path()
        return True

    def bases(self) -> dict[str, str | None]:
        """path -> the version a person's change started from, where an operation
        left the file alone (and git has not checked it out or staged it since);
        see ``Bases``."""
        return self._checkout.bases()

    def replaced(self, path: str) -> list[Version]:
        """The versions of ``path`` gitmem last replaced on disk or left to an
        editor's buffer, newest first (see ``editors.Replaced``)."""
        return self._checkout.replaced(path)

    def write_blob(self, data: bytes) -> str:
        """Store ``data`` as a blob no commit needs to name (a version of a file
        a later save may be merged from); made durable with the next commit."""
        return self._loose.write(b"blob", data).decode()

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

    def raw_tree(self, sha: ObjectID) -> bytes:
        """The contents of tree ``sha`` as git stores them, unparsed (see ``tree.diff_trees``)."""
        with self._cache_lock:
            tree = self._trees.get(sha)
        if tree is not None:
            return tree.raw()
        with self._reading(sha):
            kind, raw = self._loose.read(sha) or self._git.object_store.get_raw(sha)
        if kind != Tree.type_num:
            raise CorruptError(f"Git object {sha.decode()} is not a tree")
        return bytes(raw)

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
        with self._reading(sha):
            obj = self._git.object_store[sha]
        if not isinstance(obj, kind):
            raise CorruptError(
                f"Git object {sha.decode()} is a {obj.type_name.decode()}, not a "
                f"{kind.type_name.decode()}"
            )
        return obj

    @staticmethod
    @contextmanager
    def _reading(sha: ObjectID) -> Iterator[None]:
        try:
            yield
        except KeyError:
            raise CorruptError(f"Git object {sha.decode()} is missing") from None
        except (FileFormatException, ChecksumMismatch, zlib.error) as e:
            raise CorruptError(f"Git object {sha.decode()} is damaged ({e})") from None

    def use_branch(self, name: str) -> None:
        """Read and write ``refs/heads/<name>`` from now on, whatever HEAD says
        (a person may detach it, rebase or bisect meanwhile)."""
        ref = Ref(HEADS + name.encode())
        if not check_ref_format(ref):
            raise CorruptError(f"not a branch name: {name!r}")
        self._branch = ref

    @property
    def branch(self) -> str:
        """The store's branch by name (``main``): see ``branch_ref``."""
        return self.branch_ref().decode().removeprefix(HEADS.decode())

    def branch_ref(self) -> Ref:
        """The store's branch: the one ``use_branch`` named, else the one HEAD
        names (a new or cloning store), else main."""
        if self._branch is not None:
            return self._branch
        return self.head_branch() or Ref(HEADS + BRANCH.encode())

    def head_branch(self) -> Ref | None:
        """The branch HEAD names; None when HEAD is detached. CorruptError when it
        names neither a branch nor a commit (empty, a loop, a bad name)."""
        head = self._git.refs.read_ref(Ref(b"HEAD")) or b""
        if is_object_id(head):
            return None
        target = Ref(head.removeprefix(b"ref: "))
        if target == head or not target.startswith(HEADS) or not check_ref_format(target):
            raise CorruptError(f".git/HEAD does not name a branch: {head[:60]!r}")
        return target

    def head_commit(self) -> ObjectID | None:
        """The commit HEAD is at, attached or detached; None before the first one."""
        branch = self.head_branch()
        if branch is None:
            return ObjectID(self._git.refs.read_ref(Ref(b"HEAD")) or b"")  # detached: the id
        return self._commit_of(branch)

    def head(self) -> ObjectID | None:
        """The branch's commit; None before the first one."""
        return self._commit_of(self.branch_ref())

    def _commit_of(self, ref: Ref) -> ObjectID | None:
        sha = self._git.refs.read_ref(ref)
        if sha and not is_object_id(sha):
            raise CorruptError(f".git/{ref.decode()} does not hold a commit id: {sha[:60]!r}")
        return ObjectID(sha) if sha else None

    def left_behind(self) -> bool:
        """Whether an operation moved the branch but did not finish the index and
        files (it died, or a full disk stopped its checkout): its record is still
        in the store lock, and no operation runs now. ``finish`` finishes them."""
        try:
            fd = os.open(self._gitdir / "gitmem.lock", os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # an operation is running; it finishes its own
            fields = os.pread(fd, 200, 0).split()
        finally:
            os.close(fd)
        return len(fields) > 1 and fields[1] != (self.head() or b"")

    def finish(self) -> None:
        """Finish what an operation left behind (see ``left_behind``)."""
        with self._locked():
            pass

    def checks_out(self) -> bool:
        """Whether the index and working tree follow the store's branch: HEAD names
        it. Otherwise (HEAD detached, on another branch, mid-rebase) they are the
        person's, and operations only move the branch."""
        try:
            return self.head_branch() == self.branch_ref()
        except CorruptError:
            return False

    def snapshot(self, commit: ObjectID | None = None) -> Snapshot:
        """The store at ``commit`` (default: the branch head)."""
        if commit is None:
            commit = self.head()
        if commit is None:
            return Snapshot(self, None, EMPTY)
        obj = self.object(commit, Commit)
        return Snapshot(self, commit, self.tree(obj.tree))

    def person(self) -> Identity:
        """The person behind a non-agent operation, found the way git finds an author
        (``GIT_AUTHOR_*``, then git's ``user.*``: dulwich's get_user_identity); where
        neither names one, ``gitmem <gitmem@localhost>``, not a guess from the login."""
        config = self._identity_config()
        try:
            found = get_user_identity(config, "AUTHOR")
        except DefaultIdentityNotFound:
            # dulwich asks the system for a login name before anything else, and gives
            # up without one (a container's bare uid): the environment and config say.
            env = os.environ
            name = env.get("GIT_AUTHOR_NAME") or config.get(("user",), "name").decode()
            email = env.get("GIT_AUTHOR_EMAIL") or config.get(("user",), "email").decode()
            found = f"{name} <{email}>".encode()
        name, _, email = found.decode(errors="replace").rpartition(" <")
        return Identity(name or "gitmem", email.removesuffix(">") or "gitmem@localhost")

    @functools.cache  # noqa: B019  # reading git's config files is ~0.7 ms; a repo lives long
    def _identity_config(self) -> StackedConfig:
        """git's config as git reads it, with gitmem's own identity under it all."""
        own = ConfigFile()
        own.set(("user",), "name", "gitmem")
        own.set(("user",), "email", "gitmem@localhost")
        return StackedConfig([*self._git.get_config_stack().backends, own])

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
                        if self.checks_out():
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
        ``git commit -a``) see branch, index and files change together. While
        HEAD is elsewhere (``checks_out``), only the branch moves.
        """

        moved = False

        def run() -> bool:
            nonlocal moved
            if not self.checks_out():
                # The index and files are the person's, and their git (a commit's
                # editor holds index.lock while it is open) must not hold agents up.
                assert new.commit is not None  # a snapshot we just committed
                self._checkout.moving_away(old.commit, new.commit)
                moved = self._move_branch(old.commit, new.commit, change)
                if moved and self.checks_out():  # HEAD came back to the branch meanwhile
                    self._checkout.catch_up(new)
                return moved
            with self._checkout.index.locked() as index:
                if not self._move_branch(old.commit, new.commit, change):
                    return False
                moved = True
                self._checkout.update_locked(index, old, new, list(change.files), change.from_disk)
                return True

        try:
            return with_git_lock(run)
        except OSError:
            if not moved:
                raise
            # A full disk (or another I/O error) once the branch moved: the
            # operation is done and durable, so it is reported done; the lock
            # record stays, and the next operation finishes index and files.
            self._unfinished = True
            return True

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
            if not with_git_lock(move):
                return False
        finally:
            self._note(b"ref=")
        # dulwich fsyncs the ref's lock file, then renames it over the ref; the
        # rename lasts a power cut only once the directory is fsynced (ext4
        # commits it up to 5 s later otherwise: tests/test_powercut.py).
        safefs.fsync((self._gitdir / ref.decode()).parent)
        return True

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
            if self._checkout.was_away() and self.checks_out():
                self._checkout.catch_up(self.snapshot())
            self._record = [b"%d" % os.getpid(), self.head() or b""]
            self._record_fd = fd
            self._note()
            self._unfinished = False
            try:
                yield
            finally:
                self._record_fd = None
                if not self._unfinished:
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
        if start and head and start != head and self.checks_out():
            old, new = self.snapshot(ObjectID(start)), self.snapshot(head)
            self._checkout.update(old, new, [path for path, _, _ in diff(old, new)])
