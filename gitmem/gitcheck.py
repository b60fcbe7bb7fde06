"""What ``git fsck`` would find, through dulwich: objects reachable from the branch
that are missing, damaged or not what they claim, and lock files that dead
processes left behind."""

from __future__ import annotations

import stat
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from dulwich.errors import ChecksumMismatch, FileFormatException
from dulwich.objects import Commit, ObjectID, Tree
from dulwich.repo import Repo

from gitmem.gitlock import STALE_SECONDS

_GITLINK = 0o160000


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
                obj = git.object_store[sha]
                obj.check()
            except KeyError:
                problems.append(GitProblem(_object_path(root, sha), f"{what} is missing"))
                continue
            except (FileFormatException, ChecksumMismatch, zlib.error) as e:
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
