"""What ``git fsck`` would find, through dulwich: objects reachable from the branch
that are missing, damaged or not what they claim, and lock files that dead
processes left behind."""

from __future__ import annotations

import stat
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dulwich.errors import ChecksumMismatch, FileFormatException, ObjectFormatException
from dulwich.objects import Commit, ObjectID, ShaFile, Tree, object_class, parse_tree
from dulwich.repo import Repo

from gitmem.git.lock import STALE_SECONDS

_GITLINK = 0o160000
ATTRIBUTES_LINE = 2048  # git fsck refuses .gitattributes lines this long (gitattributesLineLength)
MALFORMED = (FileFormatException, ChecksumMismatch, zlib.error)  # what a damaged object raises


@dataclass(frozen=True)
class GitProblem:
    """Something wrong in ``.git``: ``path`` is relative to the store."""

    path: str
    message: str


def check_objects(root: Path, ref: str, head: ObjectID) -> tuple[int, list[GitProblem]]:
    """Check every object reachable from ``head``, the commit of the branch ``ref``:
    it exists, hashes to its id, parses strictly (dulwich's ``check()``) and is of
    the kind that names it.

    Returns how many objects were checked and what is wrong.
    """
    with Repo(str(root)) as git:
        problems: list[GitProblem] = []
        seen: set[bytes] = set()
        # (object id, the kind its referrer expects, what refers to it, its path in the tree)
        todo: list[tuple[ObjectID, bytes, str, str]] = [(head, b"commit", f".git/{ref}", "")]
        while todo:
            sha, kind, via, path = todo.pop()
            if sha in seen:
                continue
            seen.add(sha)
            what = f"{kind.decode()} {sha.decode()} ({via})"
            try:
                obj = strict(git, sha)
            except KeyError:
                problems.append(GitProblem(_object_path(root, sha), f"{what} is missing"))
                continue
            except MALFORMED as e:
                problems.append(GitProblem(_object_path(root, sha), f"{what} is damaged: {e}"))
                continue
            if obj.type_name != kind:
                problems.append(
                    GitProblem(_object_path(root, sha), f"{what} is a {obj.type_name.decode()}")
                )
            elif isinstance(obj, Commit):
                short = sha.decode()[:12]
                todo.append((obj.tree, b"tree", f"the tree of commit {short}", ""))
                todo += [(p, b"commit", f"a parent of {short}", "") for p in obj.parents]
            elif isinstance(obj, Tree):
                for entry in obj.iteritems():
                    name = path + entry.path.decode(errors="replace")
                    if stat.S_ISDIR(entry.mode):
                        todo.append((entry.sha, b"tree", name, name + "/"))
                    elif entry.mode != _GITLINK:  # a submodule's commit lives elsewhere
                        todo.append((entry.sha, b"blob", name, ""))
        return len(seen), problems


def strict(git: Repo, sha: ObjectID) -> ShaFile:
    """Object ``sha``, checked as strictly as ``git fsck``: it hashes to its id and
    parses strictly (dulwich's ``check()``: sorted tree entries, valid modes and
    names, dates that fit), and a tree names each entry once, even a file and a
    directory, which sort apart. Raises KeyError if it is missing, else
    ObjectFormatException, ChecksumMismatch or zlib.error if it is damaged."""
    obj = git.object_store[sha]
    obj.check()
    if isinstance(obj, Tree):
        raw = obj.as_raw_string()
        names = [name for name, _, _ in parse_tree(raw, obj.object_format.oid_length)]
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ObjectFormatException(f"duplicate entry {twice!r}")
    return obj


def arrived_problem(git: Repo, tip: ObjectID, arrived: Iterable[ObjectID]) -> str | None:
    """What is wrong with objects that came from elsewhere (``arrived``: each
    of them, as a fetch wrote them) and with ``tip``, the commit a branch
    there names, as ``git fsck`` (transfer.fsckObjects) would find it: None if
    all is sound. Objects they name must be in the store, of the right kind
    where they arrived too."""
    objects = git.object_store
    found: dict[ObjectID, bytes] = {}  # arrived object -> its kind
    named: list[tuple[str, ObjectID, bytes]] = []  # (who names it, object, kind wanted)
    attributes: list[ObjectID] = []  # the blobs of .gitattributes files
    for sha in dict.fromkeys([tip, *arrived]):
        try:
            obj = strict(git, sha)
        except KeyError:
            return f"object {sha.decode()} is missing"
        except MALFORMED as e:
            return f"{_kind_of(git, sha)} {sha.decode()} is malformed: {e}"
        found[sha] = obj.type_name
        who = f"{obj.type_name.decode()} {sha.decode()}"
        if isinstance(obj, Commit):
            named += [(who, obj.tree, b"tree"), *((who, p, b"commit") for p in obj.parents)]
        elif isinstance(obj, Tree):
            named += [
                (who, e.sha, b"tree" if stat.S_ISDIR(e.mode) else b"blob")
                for e in obj.iteritems()
                if e.mode != _GITLINK
            ]
            attributes += [e.sha for e in obj.iteritems() if e.path == b".gitattributes"]
    if found[tip] != b"commit":
        return f"it names a {found[tip].decode()}, not a commit"
    for who, sha, wanted in named:
        if sha not in found and sha not in objects:
            return f"{who} names {wanted.decode()} {sha.decode()}, which is missing"
        if found.get(sha, wanted) != wanted:
            kind = found[sha].decode()
            return f"{who} names {sha.decode()} as a {wanted.decode()}, but it is a {kind}"
    for sha in attributes:
        if found.get(sha) == b"blob":
            blob = objects[sha].as_raw_string()
            if any(len(line) >= ATTRIBUTES_LINE for line in blob.splitlines()):
                return f"blob {sha.decode()} (.gitattributes) has lines too long for git to read"
    return None


def _kind_of(git: Repo, sha: ObjectID) -> str:
    """What kind of object ``sha`` says it is, if it says anything readable."""
    try:
        kind = object_class(git.object_store.get_raw(sha)[0])
    except (*MALFORMED, KeyError):
        kind = None
    return kind.type_name.decode() if kind else "object"


def missing_ref_targets(root: Path, branch: str) -> list[GitProblem]:
    """Refs other than the branch (remote-tracking refs, other branches, tags)
    that name an object the store does not have, as ``git fsck`` reports them."""
    with Repo(str(root)) as git:
        return [
            GitProblem(f".git/{ref.decode()}", f"names {sha.decode()}, which is missing")
            for ref, sha in sorted(git.get_refs().items())
            if ref not in (b"HEAD", branch.encode()) and sha not in git.object_store
        ]


def _object_path(root: Path, sha: bytes) -> str:
    hex_id = sha.decode()
    loose = f".git/objects/{hex_id[:2]}/{hex_id[2:]}"
    return loose if (root / loose).exists() else ".git/objects"


def stale_locks(root: Path) -> list[GitProblem]:
    """Git lock files older than a live writer holds one: their writer died.

    ``.git/gitmem.lock`` is not one of them: it is always there, and the
    kernel releases it when its holder dies.
    """
    gitdir = root / ".git"
    found = [
        *gitdir.glob("*.lock"),
        *gitdir.glob("refs/**/*.lock"),
        *gitdir.glob("objects/??/*.lock"),
    ]
    problems = []
    for lock in sorted(found):
        if lock.name == "gitmem.lock":
            continue
        try:
            age = time.time() - lock.lstat().st_mtime
        except FileNotFoundError:
            continue  # its writer just finished
        if age > STALE_SECONDS:
            problems.append(
                GitProblem(
                    lock.relative_to(root).as_posix(),
                    f"stale lock file, {age:.0f} s old: a git or gitmem process died holding "
                    "it; delete it if no git command is running",
                )
            )
    return problems
