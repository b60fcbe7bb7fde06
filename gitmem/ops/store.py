"""Blocks and agents: every operation reads the newest state and is one commit."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from gitmem.errors import ConflictError, ValidationError
from gitmem.git.commit import Change, CommitId, Identity
from gitmem.git.editors import IGNORED
from gitmem.git.objects import blob_id
from gitmem.git.repo import BRANCH, GitRepo, find_root
from gitmem.git.snapshot import Snapshot
from gitmem.model import block as blockfmt
from gitmem.model import manifest as manifestfmt
from gitmem.model.block import UNSET, Block, Unset
from gitmem.model.ids import DIRS, block_id_of, block_path, check_agent_id, check_block_id, slug
from gitmem.model.manifest import Agent
from gitmem.model.rules import ATTRIBUTES_CONTENT, GITATTRIBUTES, GITIGNORE
from gitmem.model.settings import SETTINGS, Settings
from gitmem.ops.check import StoreFile, check_files
from gitmem.ops.view import ParseCache, View, pin_branch

T = TypeVar("T")
# Without it, `git add -A` commits vim's swap file.
IGNORE_CONTENT = "# Editors' temporary files; gitmem ignores them too.\n" + "".join(
    f"{pattern}\n" for pattern in IGNORED
)
Files = dict[str, bytes | None]


@dataclass(frozen=True)
class Write:
    """What an operation writes, and the block and agent ids its commit names.

    ``subject`` replaces the commit's ``<op>: <target>`` subject; ``from_disk``
    and ``args``: see ``gitcommit.Change``.
    """

    files: Files
    target: str
    blocks: tuple[str, ...] = ()
    agent: str | None = None
    subject: str | None = None
    from_disk: Mapping[str, str | None] = field(default_factory=dict)
    args: Mapping[str, object] | None = None


class Store:
    """A gitmem store on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = GitRepo(root, max_file=blockfmt.MAX_FILE_BYTES)
        self._cache = ParseCache()
        # Committed files every view read so far skipped as not valid (path ->
        # why), for a command to warn about once.
        self.skipped: dict[str, str] = {}
        pin_branch(self.repo)

    @classmethod
    def open(cls, path: str | Path = ".") -> Store:
        return cls(find_root(Path(path)))

    @classmethod
    def init(cls, path: str | Path, files: Mapping[str, bytes] | None = None) -> Store:
        """Make a store at ``path``; ``files`` (blocks, manifests) join its first commit."""
        root = Path(path).resolve()
        if (root / ".git").exists():
            raise ValidationError(f"{root} is already a Git repository")
        if root.exists() and any(root.iterdir()):
            raise ValidationError(f"{root} is not empty")
        content = {
            SETTINGS: Settings(branch=BRANCH).dump(),
            GITATTRIBUTES: ATTRIBUTES_CONTENT.encode(),
            GITIGNORE: IGNORE_CONTENT.encode(),
        }
        content.update(files or {})
        for name in content:
            if name not in (SETTINGS, GITATTRIBUTES, GITIGNORE) and not name.startswith(
                tuple(f"{top}/" for top in DIRS)
            ):
                raise ValidationError(f"{name}: not a block or an agent manifest")
        found = check_files(StoreFile(name, data) for name, data in content.items())
        if found.problems:
            raise ValidationError(str(found.problems[0]))
        GitRepo.init(root)
        store = cls(root)

        def build(snap: Snapshot) -> tuple[Change, None]:
            return Change(content, "init", root.name, store.repo.person()), None

        store.repo.transact(build)
        return store

    def close(self) -> None:
        self.repo.close()

    def view(self, commit: CommitId | None = None) -> View:
        return View(self.repo.snapshot(commit), self._cache, self.skipped)

    def problems(self) -> list[str]:
        """The committed blocks and manifests that are not valid, which every read
        skips until they are fixed: ``path:line: message (from commit C by AUTHOR)``."""
        view = View(self.repo.snapshot(), self._cache)
        view.blocks()
        view.agents()
        return [view.problems[p] for p in sorted(view.problems)]

    def transact(
        self,
        build: Callable[[View], tuple[Write | None, T]],
        *,
        op: str,
        author: Identity | None = None,
        agent: str | None = None,
    ) -> T:
        """One operation, one commit: ``build`` says what to write and what to return."""

        def apply(snap: Snapshot) -> tuple[Change | None, T]:
            write, result = build(View(snap, self._cache, self.skipped))
            if write is None:
                return None, result
            who = author or self.repo.person()
            change = Change(
                write.files,
                op,
                write.target,
                who,
                agent or write.agent,
                write.blocks,
                write.subject,
                write.from_disk,
                args=write.args,
            )
            return change, result

        return self.repo.transact(apply)

    # -- blocks ------------------------------------------------------------

    def create_block(
        self,
        *,
        label: str,
        value: str = "",
        description: str | None = None,
        limit: int | None = None,
        read_only: bool = False,
        metadata: Mapping[str, object] | None = None,
        block_id: str | None = None,
    ) -> Block:
        if block_id is not None:
            check_block_id(block_id)

        def build(view: View) -> tuple[Write, Block]:
            new_id = block_id or _free_id(view, slug(str(label), "block"))
            if block_id is not None and view.find_block(block_id) is not None:
                raise ValidationError(f"block {block_id!r} already exists")
            new = _new_block(
                view,
                new_id,
                {
                    "label": label,
                    "value": value,
                    "description": description,
                    "limit": limit,
                    "read_only": read_only,
                    "metadata": metadata,
                },
            )
            return _write_block(new)

        return self.transact(build, op="create_block")

    def update_block(
        self,
        block_id: str,
        *,
        if_version: str | None = None,
        op: str = "update_block",
        author: Identity | None = None,
        agent: str | None = None,
        value: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
        limit: int | Unset = UNSET,
        read_only: bool | Unset = UNSET,
        label: str | Unset = UNSET,
        metadata: Mapping[str, object] | Unset | None = UNSET,
    ) -> Block:
        """Change the fields given (the others are UNSET); None clears a description
        or the metadata."""
        description = "" if description is None else description
        metadata = {} if metadata is None else metadata

        def build(view: View) -> tuple[Write, Block]:
            old = view.block(block_id)
            if if_version is not None and old.version != if_version:
                raise ConflictError(
                    f"block {block_id!r} changed: you read version {if_version}, "
                    f"it is now {old.version}"
                )
            new = blockfmt.check(
                replace(
                    old,
                    value=_given(value, old.value),
                    description=_given(description, old.description),
                    limit=_given(limit, old.limit),
                    read_only=_given(read_only, old.read_only),
                    label=_given(label, old.label),
                    metadata=_given(metadata, old.metadata),
                    version=None,
                )
            )
            if new.label != old.label:
                for holder in view.holders(block_id):
                    view.check_labels(holder, {block_id: new})
            return _write_block(new)

        return self.transact(build, op=op, author=author, agent=agent)

    def delete_block(self, block_id: str, *, force: bool = False) -> None:
        def build(view: View) -> tuple[Write, None]:
            view.block(block_id)
            holders = view.holders(block_id)
            if holders and not force:
                names = ", ".join(a.id for a in holders)
                raise ValidationError(
                    f"block {block_id!r} is attached to {names}; detach it first "
                    "or delete with force"
                )
            files: Files = {block_path(block_id): None}
            for agent in holders:
                kept = tuple(b for b in agent.block_ids if b != block_id)
                files[agent.path] = manifestfmt.dump(replace(agent, block_ids=kept))
            return Write(files, block_id, (block_id,)), None

        self.transact(build, op="delete_block")

    # -- agents ------------------------------------------------------------

    def create_agent(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        model: str | None = None,
        memory_blocks: Iterable[Mapping[str, object]] | None = (),
        block_ids: Iterable[str] | None = (),
        metadata: Mapping[str, object] | None = None,
    ) -> Agent:
        if name is not None:
            check_agent_id(name)
        if isinstance(block_ids, str) or isinstance(memory_blocks, (str, Mapping)):
            raise ValidationError("block_ids and memory_blocks must be lists")
        inline = list(memory_blocks or ())
        shared = list(block_ids or ())
        for i, spec in enumerate(inline):
            if not isinstance(spec, Mapping):
                raise ValidationError(f"memory_blocks[{i}]: expected a mapping with a 'label'")
            unknown = set(spec) - {"value", *blockfmt.KEYS}
            if unknown:
                raise ValidationError(f"memory_blocks[{i}]: unknown key {sorted(unknown)[0]!r}")
            if "label" not in spec:
                raise ValidationError(f"memory_blocks[{i}]: 'label' is required")

        def build(view: View) -> tuple[Write, Agent]:
            agent_id = name or _agent_name(view)
            if view.find_agent(agent_id) is not None:
                raise ValidationError(f"agent {agent_id!r} already exists")
            made: dict[str, Block] = {}
            for spec in inline:
                new_id = _free_id(view, f"{agent_id}/{slug(str(spec['label']), 'block')}", made)
                made[new_id] = _new_block(view, new_id, spec)
            agent = manifestfmt.check(
                Agent(
                    id=agent_id,
                    name=agent_id,
                    description=description or "",
                    model=model,
                    block_ids=tuple(dict.fromkeys([*made, *shared])),
                    metadata=metadata or {},
                )
            )
            view.check_labels(agent, made)
            files: Files = {b.path: blockfmt.dump(b) for b in made.values()}
            files[agent.path] = manifestfmt.dump(agent)
            return Write(files, agent_id, tuple(made), agent_id), agent

        return self.transact(build, op="create_agent")

    def delete_agent(self, agent_id: str, *, delete_blocks: bool = False) -> None:
        """Delete the agent; with ``delete_blocks`` also its own ``<agent-id>/...`` blocks."""

        def build(view: View) -> tuple[Write, None]:
            agent = view.agent(agent_id)
            files: Files = {agent.path: None}
            if delete_blocks:
                for owned in agent.block_ids:
                    if not owned.startswith(agent_id + "/"):
                        continue
                    others = [a.id for a in view.holders(owned) if a.id != agent_id]
                    if others:
                        raise ValidationError(
                            f"block {owned!r} is also attached to {', '.join(others)}; "
                            "detach it there first"
                        )
                    files[block_path(owned)] = None
            deleted = tuple(b for b in map(block_id_of, files) if b is not None)
            return Write(files, agent_id, deleted), None

        self.transact(build, op="delete_agent", agent=agent_id)

    def attach(self, agent_id: str, block_id: str) -> Agent:
        def build(view: View) -> tuple[Write | None, Agent]:
            agent = view.agent(agent_id)
            view.block(block_id)
            if block_id in agent.block_ids:
                return None, agent
            new = replace(agent, block_ids=(*agent.block_ids, block_id))
            view.check_labels(new)
            return _write_manifest(new, f"{block_id} to {agent_id}", block_id), new

        return self.transact(build, op="attach", agent=agent_id)

    def detach(self, agent_id: str, block_id: str) -> Agent:
        def build(view: View) -> tuple[Write | None, Agent]:
            agent = view.agent(agent_id)
            if block_id not in agent.block_ids:
                view.block(block_id)
                return None, agent
            new = replace(agent, block_ids=tuple(b for b in agent.block_ids if b != block_id))
            return _write_manifest(new, f"{block_id} from {agent_id}", block_id), new

        return self.transact(build, op="detach", agent=agent_id)


def _given(new: T | Unset, old: T) -> T:
    return old if isinstance(new, Unset) else new


def _new_block(view: View, block_id: str, spec: Mapping[str, object]) -> Block:
    clash = view.path_clash(block_path(block_id))
    if clash:
        raise ValidationError(f"block id {block_id!r} cannot be used: {clash}")
    return blockfmt.from_fields(block_id, spec, default_limit=view.settings.default_limit)


def _write_block(block: Block) -> tuple[Write, Block]:
    """The write of ``block``, and the block as it reads back (with its version)."""
    data = blockfmt.dump(block)
    return Write({block.path: data}, block.id, (block.id,)), replace(block, version=blob_id(data))


def _write_manifest(agent: Agent, target: str, block_id: str) -> Write:
    return Write({agent.path: manifestfmt.dump(agent)}, target, (block_id,))


def _free_id(view: View, base: str, taken: Mapping[str, object] | None = None) -> str:
    candidate, n = base, 1
    while view.find_block(candidate) is not None or candidate in (taken or {}):
        n += 1
        candidate = f"{base}-{n}"
    return check_block_id(candidate)


_ADJECTIVES = [
    "amber",
    "brave",
    "calm",
    "deft",
    "eager",
    "fair",
    "glad",
    "keen",
    "lively",
    "merry",
    "noble",
    "quick",
    "sharp",
    "steady",
    "swift",
    "wise",
]
_NOUNS = [
    "badger",
    "crane",
    "falcon",
    "fox",
    "heron",
    "ibis",
    "lynx",
    "marten",
    "otter",
    "owl",
    "panda",
    "raven",
    "robin",
    "seal",
    "wren",
    "yak",
]


def _agent_name(view: View) -> str:
    """A readable, unused agent id such as ``agent-calm-heron``."""
    rng = random.Random()
    for attempt in range(1000):
        name = f"agent-{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}"
        if attempt > 100:
            name += f"-{rng.randrange(10**6)}"
        if view.find_agent(name) is None:
            return name
    raise ConflictError("could not find a free agent name; give one with name=")
