"""History read from Git objects: which commits changed which tracked files,
revisions named by commit-ish or date, and line annotation (dulwich.annotate).

The caller says which files are tracked: a directory (``top``) and a ``key`` for
each file path in it (a block id, for the store), None for files not tracked.

Answering "which commits touched blocks/x.md" means comparing every commit's tree
with its parent's: at 50,000 commits, 50,000 reads of a 40 KB ``blocks/`` tree,
which takes dulwich 6 s or more (30 s with loose objects); ``git log -- path``
itself takes 2-3 s there (18 s loose) unless it has a changed-path commit-graph.
So each commit's block changes are worked out once and kept in
``.git/gitmem/history-index``, a line per commit, appended as new commits are
first seen. Commits never change, so the file is never stale, only short: it is a
cache, rebuilt if lost, and a store where it cannot be written is still answered.
"""

from __future__ import annotations

import fcntl
import heapq
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from dulwich.annotate import update_lines
from dulwich.approxidate import parse_approxidate
from dulwich.objects import Blob, Commit, ObjectID, ShaFile
from dulwich.objectspec import AmbiguousShortId, parse_commit, parse_object

from gitmem.errors import NotFoundError
from gitmem.git.commit import LogEntry
from gitmem.git.repo import GitRepo
from gitmem.git.tree import TreeRecord, diff_trees, raw_entries

if TYPE_CHECKING:
    from dulwich.objects import TreeEntry

INDEX_HEADER = b"gitmem history index 1\n"
Changes = dict[str, str | None]  # key -> blob id of its file after the commit (None: gone)

_REV_SUFFIX = re.compile(r"(?:[~^][0-9]*)+$")
_REF_LIKE = re.compile(r"(?!.*\.\.)[A-Za-z0-9_@{}-][A-Za-z0-9._/@{}-]*")
_TREE_CACHE = 64


@dataclass(frozen=True)
class Node:
    """One commit in the index: its commit time, parents, and the tracked files'
    changes relative to each parent (one entry for a root commit: relative to nothing)."""

    time: int
    parents: tuple[str, ...]
    changes: tuple[Changes, ...]

    def changed(self, key: str) -> bool:
        """Whether the file differs from every parent (git's "not TREESAME")."""
        return all(key in c for c in self.changes)


def _node_line(commit: str, node: Node) -> bytes:
    fields = [" ".join([commit, str(node.time), *node.parents])]
    for changes in node.changes:
        fields.append(" ".join(f"{b}={sha or ''}" for b, sha in changes.items()))
    return ("\t".join(fields) + "\n").encode()


def _parse_node(line: str) -> tuple[str, Node]:
    head, *fields = line.split("\t")
    commit, when, *parents = head.split(" ")
    changes = []
    for field in fields:
        pairs = (item.partition("=") for item in field.split(" ") if item)
        changes.append({b: sha or None for b, _, sha in pairs})
    return commit, Node(int(when), tuple(parents), tuple(changes))


@dataclass(frozen=True)
class _Header:
    tree: bytes
    parents: tuple[bytes, ...]
    time: int


class GitHistory:
    """History queries on one repository; safe to share between threads."""

    def __init__(self, repo: GitRepo, top: str, key: Callable[[str], str | None]) -> None:
        self.repo = repo
        self._top, self._key = top, key
        self._objects = repo.git.object_store
        self._path = Path(repo.git.controldir()) / "gitmem" / "history-index"
        self._nodes: dict[str, Node] = {}
        self._read_to = 0  # bytes of the index file already in _nodes
        self._trees: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    # -- naming revisions ------------------------------------------------

    def resolve(self, rev: str) -> str:
        """The commit ``rev`` names: a commit-ish (``HEAD~2``, a hash, a branch) or
        a date (``2 hours ago``, ISO time), which means the branch as it was then."""
        commit = self._commitish(rev)
        if commit is not None:
            return commit
        when = parse_date(rev, what="revision or date")
        for commit, node in self._first_parents():
            if node.time <= when:
                return commit
        raise NotFoundError(f"no commit at or before {rev!r}")

    def _commitish(self, rev: str) -> str | None:
        suffix = _REV_SUFFIX.search(rev)
        base = rev[: suffix.start()] if suffix else rev
        if not _REF_LIKE.fullmatch(base):
            return None  # not a name git could have: maybe a date
        git = self.repo.git
        try:
            found: ShaFile = parse_commit(git, base)
            if suffix:
                found = parse_object(git, found.id + suffix.group().encode())
        except AmbiguousShortId:
            raise NotFoundError(f"ambiguous revision {rev!r}: give more of the hash") from None
        except (KeyError, ValueError):
            return None
        return found.id.decode() if isinstance(found, Commit) else None

    def _first_parents(self) -> Iterator[tuple[str, Node]]:
        commit = self.head()
        while commit is not None:
            node = self.node(commit)
            yield commit, node
            commit = node.parents[0] if node.parents else None

    def head(self) -> str | None:
        head = self.repo.head()
        return head.decode() if head else None

    # -- walking ---------------------------------------------------------

    def commits(self, head: str | None = None) -> Iterator[tuple[str, Node]]:
        """Every commit reachable from ``head`` (default: the branch), newest first."""
        yield from self._walk(head or self.head(), None)

    def revisions(self, key: str, head: str | None = None) -> Iterator[tuple[str, str | None]]:
        """(commit, blob id of the file after it, None if deleted) for every commit
        that changed the tracked file ``key``, newest first, through deletions."""
        for commit, node in self._walk(head or self.head(), key):
            yield commit, node.changes[0].get(key)

    def _walk(self, head: str | None, key: str | None) -> Iterator[tuple[str, Node]]:
        """Commits by commit time, newest first. With ``key``, only those that
        changed it, simplified like ``git log -- path``: a merge that kept one
        parent's version is skipped and only that parent is followed."""
        if head is None:
            return
        queue = [(-self.node(head).time, 0, head)]
        seen = {head}
        order = 0
        while queue:
            _, _, commit = heapq.heappop(queue)
            node = self.node(commit)
            parents: Sequence[str] = node.parents
            if key is None or node.changed(key):
                yield commit, node
            elif parents:
                same = (p for p, c in zip(parents, node.changes, strict=True) if key not in c)
                parents = [next(same)]
            for parent in parents:
                if parent not in seen:
                    seen.add(parent)
                    order += 1
                    heapq.heappush(queue, (-self.node(parent).time, order, parent))

    def entry(self, commit: str) -> LogEntry:
        obj = self._objects[ObjectID(commit.encode())]
        assert isinstance(obj, Commit)
        return LogEntry.from_commit(obj)

    def mentions(self, commit: str, texts: Sequence[str]) -> bool:
        """Whether the raw commit contains every one of ``texts``: a cheap test that
        rules most commits out before their trailers are parsed."""
        _, raw = self._objects.get_raw(ObjectID(commit.encode()))
        return all(text.encode() in raw for text in texts)

    def blob(self, sha: str) -> bytes:
        return self.repo.blob(sha)

    def annotate(self, revisions: Sequence[tuple[str, str]]) -> list[tuple[str, bytes]]:
        """(commit, line) for each line of the last blob: the commit that last
        changed the line. ``revisions``: (commit, blob id), oldest first."""
        lines: list[tuple[tuple[Commit, TreeEntry], bytes]] = []
        for commit, sha in revisions:
            blob = self._objects[ObjectID(sha.encode())]
            assert isinstance(blob, Blob)
            # update_lines only carries this value along with each line it keeps.
            lines = update_lines(lines, cast("tuple[Commit, TreeEntry]", (commit, None)), blob)
        return [(cast("tuple[str, None]", data)[0], line) for data, line in lines]

    # -- the index -------------------------------------------------------

    def node(self, commit: str) -> Node:
        """The index entry of ``commit``, working it (and unindexed ancestors) out if new."""
        found = self._nodes.get(commit)
        if found is not None:
            return found
        with self._lock:
            self._load()
            if commit not in self._nodes:
                self._add(commit)
            return self._nodes[commit]

    def _load(self) -> None:
        """Read what other processes (or we) appended to the index file since last time."""
        try:
            with open(self._path, "rb") as f:
                if self._read_to == 0 and f.read(len(INDEX_HEADER)) != INDEX_HEADER:
                    return
                f.seek(max(self._read_to, len(INDEX_HEADER)))
                data = f.read()
        except OSError:
            return  # no index yet, or none we can read: commits are worked out again
        complete = data[: data.rfind(b"\n") + 1]  # a last line without "\n" is still being written
        for line in complete.decode(errors="replace").splitlines():
            try:
                commit, node = _parse_node(line)
            except ValueError:
                continue  # a damaged line: that commit is worked out again if needed
            self._nodes[commit] = node
        self._read_to = max(self._read_to, len(INDEX_HEADER)) + len(complete)

    def _add(self, head: str) -> None:
        headers: dict[str, _Header | None] = {}  # None: not in this repository (shallow clone)
        order = []  # parents before children, so the file never holds a commit without its past
        stack: list[tuple[str, bool]] = [(head, False)]
        while stack:
            commit, done = stack.pop()
            if done:
                order.append(commit)
            elif commit not in headers and commit not in self._nodes:
                header = headers[commit] = self._header(commit)
                if header is None and commit == head:
                    raise NotFoundError(f"commit {commit} is not in the repository")
                if header is not None:
                    stack.append((commit, True))
                    stack += [(p.decode(), False) for p in header.parents]
        lines = []
        for commit in order:
            header = headers[commit]
            assert header is not None
            known = (p.decode() for p in header.parents)
            parents = [p for p in known if p in self._nodes or headers.get(p) is not None]
            olds: list[bytes | None] = [self._tree_of(p, headers) for p in parents]
            changes = [self._changes(old, header.tree) for old in olds or [None]]
            node = Node(header.time, tuple(parents), tuple(changes))
            self._nodes[commit] = node
            lines.append(_node_line(commit, node))
        self._trees.clear()
        self._append(b"".join(lines))

    def _append(self, data: bytes) -> None:
        try:
            self._path.parent.mkdir(exist_ok=True)
            with open(self._path, "a+b") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                size = f.seek(0, os.SEEK_END)
                f.seek(0)
                if f.read(len(INDEX_HEADER)) != INDEX_HEADER:
                    f.truncate(0)
                    f.write(INDEX_HEADER)
                elif size > len(INDEX_HEADER):
                    f.seek(size - 1)
                    if f.read(1) != b"\n":  # a writer died mid-line: drop its half line
                        f.seek(0)
                        f.truncate(f.read().rfind(b"\n") + 1)
                f.write(data)
        except OSError:
            pass  # a store we may not write to is answered all the same, just not cached

    def _tree_of(self, commit: str, headers: dict[str, _Header | None]) -> bytes:
        header = headers.get(commit) or self._header(commit)
        assert header is not None  # indexed commits exist
        return header.tree

    def _header(self, commit: str) -> _Header | None:
        try:
            _, raw = self._objects.get_raw(ObjectID(commit.encode()))
        except KeyError:
            return None
        tree, parents, when = b"", [], 0
        for line in raw[: raw.find(b"\n\n")].split(b"\n"):
            if line.startswith(b"tree "):
                tree = line[5:]
            elif line.startswith(b"parent "):
                parents.append(line[7:])
            elif line.startswith(b"committer "):
                when = int(line.rsplit(b" ", 2)[1])
        return _Header(tree, tuple(parents), when)

    # -- comparing trees -------------------------------------------------

    def _tree(self, sha: bytes | None) -> bytes:
        """Raw tree ``sha`` (b"" for none); a walk reads each tree as a commit's, then
        as its parent's, so the last few are kept."""
        if sha is None:
            return b""
        raw = self._trees.get(sha)
        if raw is None:
            raw = bytes(self._objects.get_raw(ObjectID(sha))[1])
            self._trees[sha] = raw
            if len(self._trees) > _TREE_CACHE:
                self._trees.popitem(last=False)
        return raw

    def _changes(self, old_root: bytes | None, new_root: bytes) -> Changes:
        changes: Changes = {}
        old, new = self._top_dir(old_root), self._top_dir(new_root)
        if old == new:
            return changes
        top = self._top.encode() + b"/"
        for path, a, b in diff_trees(self._tree, self._tree(old), self._tree(new), top):
            before, after = _file_sha(a), _file_sha(b)
            if before != after:
                key = self._key(path.decode(errors="replace"))
                if key is not None:
                    changes[key] = after.hex() if after else None
        return changes

    def _top_dir(self, root: bytes | None) -> bytes | None:
        """The tree id of the tracked directory in a root tree (a handful of entries)."""
        found = [e for e in raw_entries(self._tree(root)) if e[0] == self._top.encode()]
        return _dir_sha(found[0]) if found else None


def _dir_sha(entry: TreeRecord | None) -> bytes | None:
    return entry[2].hex().encode() if entry and stat.S_ISDIR(entry[1]) else None


def _file_sha(entry: TreeRecord | None) -> bytes | None:
    return entry[2] if entry and stat.S_ISREG(entry[1]) else None


def parse_date(text: str, *, what: str = "date") -> int:
    """Seconds since the epoch for an ISO time or git's approximate dates
    (``2 hours ago``, ``yesterday``, ``2024-05-01 12:00``)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
        return int(parsed.timestamp())
    except ValueError:
        pass
    try:
        return parse_approxidate(text)
    except ValueError:
        raise NotFoundError(f"unknown {what}: {text!r}") from None
