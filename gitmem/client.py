"""The Python API, shaped like Letta's client so Letta code runs with one line changed."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from gitmem.errors import ValidationError
from gitmem.model.block import UNSET, Block, Unset
from gitmem.model.manifest import Agent

# The features are loaded where used: importing them loads dulwich, which git's
# merge driver (Hooks.merge, once per file) and most commands' start-up do without.
if TYPE_CHECKING:
    from gitmem.git.remote import Progress
    from gitmem.git.state import GitState
    from gitmem.model.merge import Merged, Strategy
    from gitmem.ops.check import CheckReport
    from gitmem.ops.history import BlameLine, BlockDiff, BlockRevision, History, HistoryEntry
    from gitmem.ops.memory import Memory
    from gitmem.ops.store import Store
    from gitmem.ops.sync import Pulled, Pushed, Synced
    from gitmem.ops.tokens import Tokens
    from gitmem.ops.watch import Watcher
    from gitmem.ops.worktree import FileStatus, Outcome

BlockList = list[Block]
AgentList = list[Agent]


class Client:
    """A gitmem store: ``Client(path)`` opens one, ``Client.init(path)`` makes one."""

    def __init__(self, path: str | Path = ".") -> None:
        from gitmem.ops.store import Store

        self._attach(Store.open(path))

    def _attach(self, store: Store) -> None:
        from gitmem.ops.history import History

        self._store = store
        # A program that never closes its client still exits quietly: the store
        # is closed when the client is collected, or at exit before the
        # interpreter's teardown (where dulwich's __del__ would print errors).
        self._closer = weakref.finalize(self, store.close)
        self._history = History(store)
        self.blocks = Blocks(store, self._history)
        self.agents = Agents(store)
        self.hooks = Hooks(store)

    @classmethod
    def init(cls, path: str | Path, *, sample: bool = False) -> Client:
        """Make a new store at ``path``; with ``sample``, filled with the sample memory."""
        from gitmem.ops.data import data_dir, store_files
        from gitmem.ops.store import Store

        files = store_files(data_dir("sample_repo")) if sample else {}
        client = cls.__new__(cls)
        client._attach(Store.init(path, files))
        client.hooks.install()
        return client

    @classmethod
    def clone(cls, url: str, path: str | Path, *, progress: Progress | None = None) -> Client:
        """Copy the store at ``url`` (path, file://, ssh://, https://) into ``path``."""
        from gitmem.ops import sync

        client = cls.__new__(cls)
        client._attach(sync.clone(url, path, progress=progress))
        return client

    @staticmethod
    def check(path: str | Path) -> CheckReport:
        """Everything wrong with the store at ``path`` (or a directory above it), found
        without changing anything. A path, not a client: the store may be too
        damaged to open (HEAD or the branch broken)."""
        from gitmem.git.repo import find_root
        from gitmem.ops.check import check_store

        return check_store(find_root(Path(path)))

    @staticmethod
    def is_version(text: str) -> bool:
        """Whether ``text`` has the form of a block version (40 hex digits)."""
        from gitmem.model.ids import check_version

        try:
            check_version(text)
        except ValidationError:
            return False
        return True

    @property
    def path(self) -> Path:
        return self._store.root

    @property
    def tokens(self) -> Tokens:
        """The tokens ``gitmem serve`` accepts (kept hashed under ``.git/gitmem/``)."""
        from gitmem.ops.tokens import Tokens

        return Tokens(self._store.repo.gitdir)

    def pull(
        self,
        remote: str | None = None,
        *,
        strategy: Strategy | None = None,
        progress: Progress | None = None,
    ) -> Pulled:
        """Fetch ``remote`` (default: upstream, else origin) and merge it in;
        a conflict raises ConflictError and changes nothing."""
        from gitmem.ops import sync

        return sync.pull(self._store, remote, strategy=strategy, progress=progress)

    def push(self, remote: str | None = None, *, progress: Progress | None = None) -> Pushed:
        """Push the branch; ConflictError if the remote has commits not merged here."""
        from gitmem.ops import sync

        return sync.push(self._store, remote, progress=progress)

    def sync(
        self,
        remote: str | None = None,
        *,
        strategy: Strategy | None = None,
        progress: Progress | None = None,
    ) -> Synced:
        """Pull, then push; pull and push again while the remote moves meanwhile."""
        from gitmem.ops import sync

        return sync.sync(self._store, remote, strategy=strategy, progress=progress)

    def remotes(self) -> dict[str, str]:
        """The configured remotes: name -> URL."""
        from gitmem.git import remote as gitremote

        return gitremote.remotes(self._store.repo)

    def add_remote(self, name: str, url: str) -> None:
        """Configure a git remote (what ``git remote add NAME URL`` does)."""
        from gitmem.git import remote as gitremote

        gitremote.add_remote(self._store.repo, name, url)

    def history(
        self,
        limit: int | None = None,
        *,
        agent: str | None = None,
        block: str | None = None,
        op: str | None = None,
        since: str | None = None,
    ) -> list[HistoryEntry]:
        """The store's commits, newest first: who did which operation on what.

        Filters: the agent, block and op the commits name in their trailers
        (``block`` also matches plain edits of its file), and a date ``since``.
        """
        return self._history.log(limit=limit, agent=agent, block=block, op=op, since=since)

    def status(self, paths: Iterable[str] | None = None) -> list[FileStatus]:
        """Blocks and manifests changed on disk, each with its problem (None: valid)."""
        from gitmem.ops import worktree

        return worktree.status(self._store, paths)

    def git_state(self) -> GitState:
        """Where HEAD is and what git is in the middle of (a rebase, merge, ...)."""
        from gitmem.git.state import read_state

        return read_state(self._store.repo)

    def commit(
        self,
        paths: Iterable[str] | None = None,
        *,
        message: str | None = None,
        strategy: Strategy | None = None,
    ) -> Outcome:
        """Commit files changed on disk (all, or ``paths``) as the person, merged
        with the branch; invalid and conflicting files are reported, not committed."""
        from gitmem.ops import worktree

        return worktree.commit_changed(self._store, paths, message=message, strategy=strategy)

    def edit(self, block_id: str, run_editor: Callable[[Path], int]) -> Outcome:
        """Edit a block with ``run_editor(file) -> exit status`` and commit the save."""
        from gitmem.ops import worktree

        return worktree.edit(self._store, block_id, run_editor)

    def problems(self) -> list[str]:
        """Committed blocks and manifests that are not valid (made by plain git
        without the hook), each ``path:line: message (from commit C by AUTHOR)``.
        Reads skip them; using one raises BadFileError with its message."""
        return self._store.problems()

    def skipped(self) -> list[str]:
        """The problems of the files this client's reads have skipped so far."""
        return [self._store.skipped[p] for p in sorted(self._store.skipped)]

    def watch(
        self,
        agent_id: str | Sequence[str] | None = None,
        cursor: str | None = None,
        *,
        commit: bool = True,
        report: Callable[[str], None] | None = None,
    ) -> Watcher:
        """Watch the store: iterate the result for events of the agent(s) (default:
        all) as commits land, or ``.start(callback)``; ``.close()`` (or ``with``)
        stops. Files saved on disk are committed meanwhile (``commit=False``: only
        reported to ``report``). ``cursor`` names a saved position to resume from."""
        from gitmem.ops.watch import Watcher

        agents = [agent_id] if isinstance(agent_id, str) else agent_id
        return Watcher(self.path, agents=agents, cursor=cursor, commit=commit, report=report)

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Blocks:
    """``client.blocks``: memory blocks, shared or not."""

    def __init__(self, store: Store, history: History) -> None:
        self._store = store
        self._history = history
        self.agents = BlockAgents(store)

    def create(
        self,
        *,
        label: str,
        value: str = "",
        description: str | None = None,
        limit: int | None = None,
        read_only: bool = False,
        metadata: Mapping[str, object] | None = None,
        id: str | None = None,
    ) -> Block:
        """Create a block; its id is ``id`` or made from the label."""
        return self._store.create_block(
            label=label,
            value=value,
            description=description,
            limit=limit,
            read_only=read_only,
            metadata=metadata,
            block_id=id,
        )

    def retrieve(self, block_id: str, *, at: str | None = None) -> Block:
        """The block now, or as of ``at``: a commit-ish (``HEAD~2``, a hash) or a date."""
        if at is not None:
            return self._history.block_at(block_id, at)
        return self._store.view().block(block_id)

    def history(self, block_id: str, *, limit: int | None = None) -> list[BlockRevision]:
        """The commits that changed the block, newest first: who, when, which op, +/- lines."""
        return self._history.block_log(block_id, limit)

    def blame(self, block_id: str) -> list[BlameLine]:
        """Each line of the block's value with the agent (or person) and commit behind it."""
        return self._history.blame(block_id)

    def diff(self, block_id: str, old: str | None = None, new: str | None = None) -> BlockDiff:
        """The block between two revisions (default: its last change)."""
        return self._history.diff(block_id, old, new)

    def revert(self, block_id: str, *, to: str) -> Block:
        """A new commit restoring the block as it was at ``to``; history is kept."""
        return self._history.revert(block_id, to)

    def list(self, *, label: str | None = None) -> BlockList:
        blocks = self._store.view().blocks()
        return [b for b in blocks if label is None or b.label == label]

    def update(
        self,
        block_id: str,
        *,
        value: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
        limit: int | Unset = UNSET,
        read_only: bool | Unset = UNSET,
        label: str | Unset = UNSET,
        metadata: Mapping[str, object] | Unset | None = UNSET,
        if_version: str | None = None,
    ) -> Block:
        """Change the given fields (``UNSET``: left as they are); with ``if_version``,
        only if the block is still at it."""
        return self._store.update_block(
            block_id,
            if_version=if_version,
            value=value,
            description=description,
            limit=limit,
            read_only=read_only,
            label=label,
            metadata=metadata,
        )

    def delete(self, block_id: str, *, force: bool = False) -> None:
        """Delete a block; refused while attached unless ``force`` (which detaches it)."""
        self._store.delete_block(block_id, force=force)


class BlockAgents:
    """``client.blocks.agents``: who has a block."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, block_id: str) -> AgentList:
        view = self._store.view()
        view.block(block_id)
        return view.holders(block_id)


class Agents:
    """``client.agents``: agents and their attachments."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.blocks = AgentBlocks(store)

    def create(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        model: str | None = None,
        memory_blocks: Iterable[Mapping[str, object]] | None = (),
        block_ids: Iterable[str] | None = (),
        metadata: Mapping[str, object] | None = None,
    ) -> Agent:
        """Create an agent; ``memory_blocks`` become its own blocks ``<agent-id>/<label>``."""
        return self._store.create_agent(
            name=name,
            description=description,
            model=model,
            memory_blocks=memory_blocks,
            block_ids=block_ids,
            metadata=metadata,
        )

    def retrieve(self, agent_id: str) -> Agent:
        return self._store.view().agent(agent_id)

    def list(self) -> AgentList:
        return self._store.view().agents()

    def delete(self, agent_id: str, *, delete_blocks: bool = False) -> None:
        """Delete an agent; its own blocks stay unless ``delete_blocks``."""
        self._store.delete_agent(agent_id, delete_blocks=delete_blocks)

    def memory(self, agent_id: str) -> Memory:
        """The agent's memory tools (memory_insert, memory_replace, ...) and compile()."""
        from gitmem.ops.memory import Memory

        return Memory(self._store, agent_id)


class AgentBlocks:
    """``client.agents.blocks``: the blocks attached to an agent."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def attach(self, block_id: str, *, agent_id: str) -> Agent:
        return self._store.attach(agent_id, block_id)

    def detach(self, block_id: str, *, agent_id: str) -> Agent:
        return self._store.detach(agent_id, block_id)

    def list(self, agent_id: str) -> BlockList:
        view = self._store.view()
        return view.attached(view.agent(agent_id))

    def retrieve(self, block_label: str, *, agent_id: str) -> Block:
        from gitmem.ops.memory import Memory

        return Memory(self._store, agent_id).block(block_label)


class Hooks:
    """``client.hooks``: the git hooks and merge driver that make plain git check and
    merge blocks as gitmem does (``Client.init`` and ``clone`` install them)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def install(self) -> list[str]:
        """Install the hooks and the merge driver (again: after moving gitmem to
        another Python); returns what was done, for people to read."""
        from gitmem.ops import hooks

        return hooks.install(self._store.repo)

    def uninstall(self) -> list[str]:
        """Remove gitmem's hooks and merge driver, putting back a hook they kept as
        ``<hook>.legacy``; returns what was done. Harmless to run again."""
        from gitmem.ops import hooks

        return hooks.uninstall(self._store.repo)

    def run(
        self,
        name: str,
        args: Sequence[str] = (),
        *,
        index: Path | None = None,
        updates: Iterable[str] = (),
    ) -> list[str]:
        """Why git hook ``name`` refuses what git is doing, a line each for the person
        (empty: git may go on). ``index``: the index git is about to commit
        (``GIT_INDEX_FILE``; default the store's); ``updates``: the ``<old> <new>
        <ref>`` lines git gives reference-transaction, read only when it needs them."""
        from gitmem.ops import hooks

        return hooks.run(self._store, name, args, index=index, updates=updates)

    @staticmethod
    def merge(base: Path, ours: Path, theirs: Path, path: str, root: Path) -> Merged:
        """What git's merge driver does (``%O %A %B %P``) for the store at ``root``:
        the merge of ``path`` goes into ``ours``, clean or with conflict markers.
        Opens no repository: git runs it once per file."""
        from gitmem.ops.hooks import merge_files

        return merge_files(base, ours, theirs, path, root)
