"""Who wrote what and when: a block's revisions, its value as of any revision,
blame by agent, diffs between revisions, revert, and the store's log filtered
by the gitmem trailers. Git itself is read through githistory.py."""

from __future__ import annotations

import difflib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gitmem.errors import NotFoundError, ValidationError
from gitmem.git.commit import CommitId, LogEntry
from gitmem.git.log import parse_date
from gitmem.git.objects import blob_id
from gitmem.model import block as blockfmt
from gitmem.model.block import Block, value_lines, value_start
from gitmem.model.ids import block_path, check_agent_id, check_block_id
from gitmem.ops.store import Store, Write
from gitmem.ops.view import View, block_history


@dataclass(frozen=True)
class BlockRevision:
    """A commit that changed a block, with how many value lines it added and removed."""

    commit: str
    time: int
    author: str
    agent: str | None
    op: str | None
    subject: str
    version: str | None  # the block file's blob id after the commit; None: it deleted the block
    added: int
    removed: int

    @property
    def who(self) -> str:
        return who(self.author, self.agent)


@dataclass(frozen=True)
class BlameLine:
    """A line of a block's value and the commit that last changed it."""

    line: int
    text: str
    commit: str
    time: int
    author: str
    agent: str | None
    op: str | None

    @property
    def who(self) -> str:
        return who(self.author, self.agent)


@dataclass(frozen=True)
class BlockDiff:
    """A block between two commits; ``old``/``new`` is None where the block did not exist."""

    block_id: str
    old: str | None
    new: str | None
    front_matter: dict[str, tuple[object, object]]  # changed keys only: key -> (old, new)
    value: list[str]  # unified diff hunks of the value, without file headers

    def text(self) -> str:
        """The diff as a patch: file headers, front-matter changes, value hunks."""
        if not self.front_matter and not self.value:
            return ""
        path = block_path(self.block_id)
        out = [
            f"--- a/{path} @ {self.old[:12]}" if self.old else "--- /dev/null",
            f"+++ b/{path} @ {self.new[:12]}" if self.new else "+++ /dev/null",
        ]
        if self.front_matter:
            out.append("@@ front matter @@")
            for key, (before, after) in self.front_matter.items():
                if self.old:
                    out.append(f"-{key}: {json.dumps(before, default=str)}")
                if self.new:
                    out.append(f"+{key}: {json.dumps(after, default=str)}")
        return "\n".join([*out, *self.value]) + "\n"


def who(author: str, agent: str | None) -> str:
    """The agent behind a commit, or else the person's name."""
    return agent or author.split(" <")[0]


@dataclass(frozen=True)
class HistoryEntry:
    """One commit of the store as ``Client.history`` lists it: who (``author``;
    ``agent`` for a memory tool's commit), which operation on which blocks."""

    commit: str
    parents: tuple[str, ...]
    author: str
    time: int
    subject: str
    op: str | None
    agent: str | None
    blocks: tuple[str, ...]

    @property
    def who(self) -> str:
        return who(self.author, self.agent)


class History:
    """History queries and revert on one store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._git = block_history(store.repo)

    def resolve(self, rev: str) -> str:
        """The commit a revision or date names (see GitHistory.resolve)."""
        return self._git.resolve(rev)

    def block_at(self, block_id: str, rev: str) -> Block:
        """The block as it was at ``rev``."""
        found = self._find(block_id, self.resolve(rev))
        if found is None:
            raise NotFoundError(f"block {block_id!r} does not exist at {rev}")
        return found

    def _find(self, block_id: str, commit: str | None) -> Block | None:
        if commit is None:
            return None
        return self._store.view(CommitId(commit.encode())).find_block(block_id)

    def block_log(self, block_id: str, limit: int | None = None) -> list[BlockRevision]:
        """The commits that changed the block, newest first, through deletions."""
        revisions = list(
            itertools.islice(self._git.revisions(check_block_id(block_id)), limit and limit + 1)
        )
        if not revisions:
            raise NotFoundError(f"block {block_id!r} has no history")
        values = [self._value_lines(sha) for _, sha in revisions]
        values.append([])  # before the oldest revision there was no block
        found = []
        for i, (commit, sha) in enumerate(revisions[:limit]):
            added, removed = diffstat(values[i + 1], values[i])
            e = self._git.entry(commit)
            found.append(
                BlockRevision(
                    commit, e.time, e.author, e.agent, e.op, e.subject, sha, added, removed
                )
            )
        return found

    def _value_lines(self, sha: str | None) -> list[bytes]:
        if sha is None:
            return []
        lines = self._git.blob(sha).splitlines()
        return lines[value_start(lines) :]

    def blame(self, block_id: str) -> list[BlameLine]:
        """Each line of the block's value with the commit that last changed it."""
        self._store.view().block(block_id)  # it exists now, and is valid
        revisions = []
        for commit, sha in self._git.revisions(block_id):
            if sha is None:
                break  # no line from before a deletion survives it
            revisions.append((commit, sha))
        annotated = self._git.annotate(revisions[::-1])
        start = value_start([line for _, line in annotated])
        entries: dict[str, LogEntry] = {}
        found = []
        for n, (commit, line) in enumerate(annotated[start:], 1):
            e = entries.get(commit) or entries.setdefault(commit, self._git.entry(commit))
            text = line.rstrip(b"\r\n").decode(errors="replace")
            found.append(BlameLine(n, text, commit, e.time, e.author, e.agent, e.op))
        return found

    def diff(self, block_id: str, old: str | None = None, new: str | None = None) -> BlockDiff:
        """The block from ``old`` to ``new`` (default: from before its last change to the head)."""
        check_block_id(block_id)
        new_commit = self.resolve(new) if new else self._git.head()
        old_commit: str | None = None
        if old:
            old_commit = self.resolve(old)
        else:
            last_two = list(itertools.islice(self._git.revisions(block_id, new_commit), 2))
            if len(last_two) == 2:
                old_commit = last_two[1][0]
        a, b = self._find(block_id, old_commit), self._find(block_id, new_commit)
        if a is None and b is None and old:
            raise NotFoundError(f"block {block_id!r} does not exist at {old} or {new or 'HEAD'}")
        if a is None and b is None:
            raise NotFoundError(
                f"block {block_id!r} has no history" + (f" up to {new}" if new else "")
            )
        front = {}
        for key in blockfmt.KEYS:
            before, after = getattr(a, key, None), getattr(b, key, None)
            if before != after:
                front[key] = (before, after)
        hunks = difflib.unified_diff(
            value_lines(a.value) if a else [], value_lines(b.value) if b else [], lineterm=""
        )
        return BlockDiff(
            block_id,
            old_commit if a else None,
            new_commit if b else None,
            front,
            list(hunks)[2:],  # the "---"/"+++" lines: BlockDiff.text() writes its own
        )

    def revert(self, block_id: str, to: str) -> Block:
        """Restore the block's file as of ``to`` in a new commit (op ``revert_block``)."""
        commit = self.resolve(to)
        path = block_path(check_block_id(block_id))
        data = self._store.repo.snapshot(CommitId(commit.encode())).read(path)
        if data is None:
            raise NotFoundError(f"block {block_id!r} does not exist at {to}")
        version = blob_id(data)

        def build(view: View) -> tuple[Write | None, Block]:
            try:
                # Checked against the store as it is now: its settings, its agents' labels.
                old = blockfmt.parse(
                    data, block_id=block_id, path=path, default_limit=view.settings.default_limit
                )
                for holder in view.holders(block_id):
                    view.check_labels(holder, {block_id: old})
            except ValidationError as e:
                raise type(e)(f"cannot revert {block_id!r} to {to}: {e}") from None
            restored = replace(old, version=version)
            if view.snap.blob_id(path) == version:
                return None, restored
            return Write({path: data}, f"{block_id} to {commit[:12]}", (block_id,)), restored

        return self._store.transact(build, op="revert_block")

    def log(
        self,
        *,
        limit: int | None = None,
        agent: str | None = None,
        block: str | None = None,
        op: str | None = None,
        since: str | None = None,
    ) -> list[HistoryEntry]:
        """The store's commits, newest first, filtered by their gitmem trailers; ``block``
        also matches commits that changed the block's file without naming it."""
        if agent is not None:
            check_agent_id(agent)
        if block is not None:
            check_block_id(block)
        after = parse_date(since) if since is not None else None
        wanted = [text for text in (agent, op) if text is not None]
        found: list[HistoryEntry] = []
        for commit, node in self._git.commits():
            if after is not None and node.time < after:
                break
            if wanted and not self._git.mentions(commit, wanted):
                continue
            e = self._git.entry(commit)
            if agent is not None and e.agent != agent:
                continue
            if op is not None and e.op != op:
                continue
            if block is not None and block not in e.blocks and not node.changed(block):
                continue
            found.append(
                HistoryEntry(
                    e.commit, e.parents, e.author, e.time, e.subject, e.op, e.agent, e.blocks
                )
            )
            if limit is not None and len(found) >= limit:
                break
        return found


def diffstat(old: Sequence[bytes], new: Sequence[bytes]) -> tuple[int, int]:
    """(lines added, lines removed) from ``old`` to ``new``."""
    # Most revisions change a line or two: match only what lies between the
    # common first and last lines, which keeps difflib's work small.
    shorter = min(len(old), len(new))
    head = 0
    while head < shorter and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < shorter - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    a, b = old[head : len(old) - tail], new[head : len(new) - tail]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    same = sum(size for _, _, size in matcher.get_matching_blocks())
    return len(b) - same, len(a) - same
