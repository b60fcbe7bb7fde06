"""The Python API, shaped like Letta's client so Letta code runs with one line changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from gitmem.block import Block
from gitmem.data import data_dir, store_files
from gitmem.manifest import Agent
from gitmem.repo import LogEntry
from gitmem.store import UNSET, Store
from gitmem.tools import Memory

BlockList = list[Block]
AgentList = list[Agent]


class Client:
    """A gitmem store: ``Client(path)`` opens one, ``Client.init(path)`` makes one."""

    def __init__(self, path: str | Path = ".") -> None:
        self._attach(Store.open(path))

    def _attach(self, store: Store) -> None:
        self._store = store
        self.blocks = Blocks(store)
        self.agents = Agents(store)

    @classmethod
    def init(cls, path: str | Path, *, sample: bool = False) -> Client:
        """Make a new store at ``path``; with ``sample``, filled with the sample memory."""
        files = store_files(data_dir("sample_repo")) if sample else {}
        client = cls.__new__(cls)
        client._attach(Store.init(path, files))
        return client

    @property
    def path(self) -> Path:
        return self._store.root

    def history(self, limit: int | None = None) -> list[LogEntry]:
        """The store's commits, newest first: who did which operation on what."""
        return self._store.repo.log(limit)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Blocks:
    """``client.blocks``: memory blocks, shared or not."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.agents = BlockAgents(store)

    def create(
        self,
        *,
        label: str,
        value: str = "",
        description: str | None = None,
        limit: int | None = None,
        read_only: bool = False,
        metadata: Mapping[str, Any] | None = None,
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

    def retrieve(self, block_id: str) -> Block:
        return self._store.view().block(block_id)

    def list(self, *, label: str | None = None) -> BlockList:
        blocks = self._store.view().blocks()
        return [b for b in blocks if label is None or b.label == label]

    def update(
        self,
        block_id: str,
        *,
        value: str = UNSET,
        description: str | None = UNSET,
        limit: int = UNSET,
        read_only: bool = UNSET,
        label: str = UNSET,
        metadata: Mapping[str, Any] | None = UNSET,
        if_version: str | None = None,
    ) -> Block:
        """Change the given fields; with ``if_version``, only if the block is still at it."""
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
        memory_blocks: Iterable[Mapping[str, Any]] | None = (),
        block_ids: Iterable[str] | None = (),
        metadata: Mapping[str, Any] | None = None,
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
        return Memory(self._store, agent_id).block(block_label)
