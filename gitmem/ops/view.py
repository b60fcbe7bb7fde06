"""Reading a store at one commit: its settings, blocks and agents (parsed files cached)."""

from __future__ import annotations

from collections.abc import Callable, Container, Hashable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from gitmem.errors import BadFileError, GitmemError, NotFoundError, ValidationError
from gitmem.model import block as blockfmt
from gitmem.model import manifest as manifestfmt
from gitmem.model.block import Block
from gitmem.model.ids import (
    AGENTS,
    BLOCKS,
    agent_id_of,
    agent_path,
    block_id_of,
    block_path,
    check_agent_id,
    check_block_id,
)
from gitmem.model.manifest import Agent
from gitmem.model.settings import SETTINGS, Settings, parse_settings

if TYPE_CHECKING:  # the merge driver reads settings without loading dulwich
    from gitmem.git.log import GitHistory
    from gitmem.git.repo import GitRepo
    from gitmem.git.snapshot import Snapshot

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
# How far back the commit that made a manifest bad is looked for: the walk
# runs once per bad file a process finds, and a bad file is usually a recent
# one (each step reads about four Git objects).
ORIGIN_WALK = 300


def pin_branch(repo: GitRepo) -> None:
    """Make ``repo`` read and write the store's branch from now on, whatever HEAD
    says later: the one ``gitmem.yaml`` records (as of HEAD's commit: every
    branch and detached commit of the store has it), else the one HEAD names,
    else main. A repository without a commit (new, or being cloned) follows HEAD."""
    commit = repo.head_commit()
    if commit is None:
        return
    recorded = None
    with suppress(GitmemError):  # a bad file or object is reported where the store is read
        sha = repo.snapshot(commit).blob_id(SETTINGS)
        recorded = None if sha is None else parse_settings(repo.blob(sha)).branch
    repo.use_branch(recorded or repo.branch)
    if repo.head() is None:  # agents would start a new history there
        raise NotFoundError(
            f"{SETTINGS} names the store's branch {recorded}, and this repository has no "
            f"such branch; make it: git branch {recorded} <commit>"
        )


class ParseCache:
    """Parsed blocks, manifests and settings by blob id: a blob never changes, so
    neither does its parse."""

    def __init__(self, size: int = 4096) -> None:
        # (block id, blob id, default limit); (agent id, blob id); blob id
        self.blocks: Memo[tuple[str, str, int], Block | Bad] = Memo(size)
        self.agents: Memo[tuple[str, str], Agent | Bad] = Memo(size)
        self.settings: Memo[str, Settings] = Memo(size)


class Memo(Generic[K, V]):
    """Values made once per key; all are dropped when ``size`` are kept."""

    def __init__(self, size: int) -> None:
        self._items: dict[K, V] = {}
        self._size = size

    def get(self, key: K, make: Callable[[], V]) -> V:
        # One lookup, and the value kept in hand: a Client is shared between
        # threads, and another one may clear the cache between two lookups.
        value = self._items.get(key)
        if value is None:
            value = make()
            if len(self._items) >= self._size:
                self._items.clear()
            self._items[key] = value
        return value


@dataclass(frozen=True)
class Bad:
    """A committed file that does not parse: what is wrong, where, and who made it so."""

    message: str


class View:
    """Blocks and agents as of one commit.

    A committed block or manifest that is not valid (plain git commits without
    the hook: ``git revert``, ``--no-verify``) is one bad file, not a broken
    store: listing skips it and records why in ``problems`` (path -> message,
    naming the commit and author that made it so), and asking for it raises
    BadFileError with that message. ``seen`` collects the same for a caller
    that reads many views (the CLI warns once per command).
    """

    def __init__(
        self, snap: Snapshot, cache: ParseCache, seen: dict[str, str] | None = None
    ) -> None:
        self.snap = snap
        self._cache = cache
        self._seen = seen
        self.problems: dict[str, str] = {}
        sha = snap.blob_id(SETTINGS)
        self.settings = (
            cache.settings.get(sha, lambda: parse_settings(snap.repo.blob(sha)))
            if sha is not None
            else Settings()
        )

    def find_block(self, block_id: str) -> Block | None:
        found = self._find_block(block_id)
        if isinstance(found, Bad):
            raise BadFileError(found.message)
        return found

    def _find_block(self, block_id: str) -> Block | Bad | None:
        path = block_path(check_block_id(block_id))
        sha = self.snap.blob_id(path)
        return None if sha is None else self._block(block_id, sha)

    def block(self, block_id: str) -> Block:
        found = self.find_block(block_id)
        if found is None:
            raise NotFoundError(f"block {block_id!r} does not exist")
        return found

    def blocks(self) -> list[Block]:
        """Every valid block (the others are in ``problems``)."""
        found = (
            self._block(block_id, sha)
            for path, sha in self.snap.files(BLOCKS)
            if (block_id := block_id_of(path)) is not None
        )
        return [b for b in found if isinstance(b, Block)]

    def _block(self, block_id: str, sha: str) -> Block | Bad:
        def parse() -> Block:
            data = self.snap.repo.blob(sha)
            parsed = blockfmt.parse(
                data,
                block_id=block_id,
                path=block_path(block_id),
                default_limit=self.settings.default_limit,
            )
            return replace(parsed, version=sha)

        key = (block_id, sha, self.settings.default_limit)
        return self._checked(block_path(block_id), self._cache.blocks, key, parse)

    def _checked(
        self, path: str, memo: Memo[K, T | Bad], key: K, parse: Callable[[], T]
    ) -> T | Bad:
        """The parse of a committed file, or (cached too) why it is bad."""

        def make() -> T | Bad:
            try:
                return parse()
            except ValidationError as e:
                return Bad(f"{e}{introduced(self.snap, path)}")

        found = memo.get(key, make)
        if isinstance(found, Bad):
            self.problems[path] = found.message
            if self._seen is not None:
                self._seen[path] = found.message
        return found

    def find_agent(self, agent_id: str) -> Agent | None:
        path = agent_path(check_agent_id(agent_id))
        sha = self.snap.blob_id(path)
        found = None if sha is None else self._agent(agent_id, sha)
        if isinstance(found, Bad):
            raise BadFileError(found.message)
        return found

    def agent(self, agent_id: str) -> Agent:
        found = self.find_agent(agent_id)
        if found is None:
            raise NotFoundError(f"agent {agent_id!r} does not exist")
        return found

    def agents(self) -> list[Agent]:
        """Every agent whose manifest is valid (the others are in ``problems``)."""
        found = (
            self._agent(agent_id, sha)
            for path, sha in self.snap.files(AGENTS)
            if (agent_id := agent_id_of(path)) is not None
        )
        return [a for a in found if isinstance(a, Agent)]

    def _agent(self, agent_id: str, sha: str) -> Agent | Bad:
        def parse() -> Agent:
            data = self.snap.repo.blob(sha)
            return manifestfmt.parse(data, agent_id=agent_id, path=agent_path(agent_id))

        return self._checked(agent_path(agent_id), self._cache.agents, (agent_id, sha), parse)

    def attached(self, agent: Agent) -> list[Block]:
        """The agent's valid blocks in manifest order (a missing block is skipped,
        ``check`` reports it; an invalid one is in ``problems``)."""
        found = (self._find_block(b) for b in agent.block_ids)
        return [b for b in found if isinstance(b, Block)]

    def holders(self, block_id: str) -> list[Agent]:
        return [a for a in self.agents() if block_id in a.block_ids]

    def path_clash(self, path: str, gone: Container[str] = ()) -> str | None:
        """Why a new file cannot be written at ``path``: a directory it needs is a
        file here, or it is a directory here (``gone``: files the same change
        deletes). Writing it anyway would replace the other: block ``x.md/y``
        needs a directory where block ``x`` has its file."""
        parts = path.split("/")
        for i in range(1, len(parts)):
            above = "/".join(parts[:i])
            first = next(self.snap.entries(above), None)
            if first is not None and first[0] == above and above not in gone:
                block_id = block_id_of(above)
                what = "a file" if block_id is None else f"the file of block {block_id!r}"
                return f"{path} needs a directory {above}/ where {what} is"
        first = next((e for e in self.snap.entries(path) if e[0] not in gone), None)
        if first is not None and first[0] != path:
            return f"{path} is a directory here (of {first[0]})"
        return None

    def check_labels(self, agent: Agent, pending: Mapping[str, Block] | None = None) -> None:
        """Refuse two attached blocks with one label: memory tools address blocks by label.

        ``pending`` holds blocks this operation writes, as they will be.
        """
        seen: dict[str, str] = {}
        for block_id in agent.block_ids:
            found = (pending or {}).get(block_id) or self._find_block(block_id)
            if found is None:
                raise NotFoundError(f"block {block_id!r} does not exist")
            if isinstance(found, Bad):
                continue  # its own file is the problem, reported where it is read
            if found.label in seen:
                raise ValidationError(
                    f"agent {agent.id!r} already has a block labelled {found.label!r} "
                    f"({seen[found.label]!r}); labels must be unique per agent"
                )
            seen[found.label] = block_id


def block_history(repo: GitRepo) -> GitHistory:
    """The store's history by block: which commits changed which block files."""
    from gitmem.git.log import GitHistory

    return GitHistory(repo, BLOCKS, _history_key)


def _history_key(path: str) -> str | None:
    """A block file's id; None for other files and names no block may have."""
    block_id = block_id_of(path)
    try:
        return check_block_id(block_id) if block_id is not None else None
    except ValidationError:
        return None


def introduced(snap: Snapshot, path: str) -> str:
    """`` (from commit C by AUTHOR)``: the commit that gave ``path`` what it holds
    at ``snap`` (a file, a link, ...); "" if nothing is there. A block's is the
    newest commit that changed it, from the history index (kept on disk, so
    later commands find it at once; it knows contents, not modes); another
    file's is found by walking back while a parent holds the same, as
    ``git log -- path`` simplifies history."""
    from gitmem.git.commit import CommitId

    held = _object_at(snap, path)
    if held is None or snap.commit is None:
        return ""
    history = block_history(snap.repo)
    commit = snap.commit.decode()
    block_id = _history_key(path)
    if block_id is not None and held[0] == 0o100644:
        changed = next(history.revisions(block_id, commit), None)
        if changed is not None and changed[1] == held[1]:
            commit = changed[0]
            return f" (from commit {commit[:12]} by {history.entry(commit).author})"
    for _ in range(ORIGIN_WALK):
        entry = history.entry(commit)
        same = (
            p
            for p in entry.parents
            if _object_at(snap.repo.snapshot(CommitId(p.encode())), path) == held
        )
        parent = next(same, None)
        if parent is None:
            return f" (from commit {commit[:12]} by {entry.author})"
        commit = parent
    return f" (unchanged since commit {commit[:12]} or earlier)"


def _object_at(snap: Snapshot, path: str) -> tuple[int, str] | None:
    """The mode and id of what is at ``path`` if it is not a directory."""
    found = next(snap.entries(path), None)
    return (found[1], found[2]) if found is not None and found[0] == path else None
