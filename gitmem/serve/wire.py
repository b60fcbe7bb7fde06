"""gitmem's blocks and agents as Letta's JSON (``BlockResponse``, ``AgentState``,
``ToolExecutionResult``), with gitmem's additions as extra fields Letta's client ignores.

The mapping, until agents get ids apart from their names (issue 16): an
agent's Letta ``id`` and ``name`` are both its gitmem id (``worker``, not
``agent-<uuid>``); a block's ``id`` is its gitmem id (``organization``,
``worker/persona``). Letta's client sends ids percent-encoded in the path, so
ids with ``/`` work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from gitmem.model.block import Block
from gitmem.model.manifest import Agent
from gitmem.serve.schema import Json, Page

T = TypeVar("T")
# A store has no agent type; Letta's client requires the field, and this is
# the type Letta gives a new agent by default.
AGENT_TYPE = "letta_v1_agent"


def block(b: Block) -> Json:
    """Letta's ``BlockResponse``; ``version`` (the file's blob id) is gitmem's (``if_version``)."""
    return {
        "id": b.id,
        "label": b.label,
        "value": b.value,
        "description": b.description,
        "limit": b.limit,
        "read_only": b.read_only,
        "metadata": _plain(b.metadata),
        "tags": [],
        "is_template": False,
        "version": b.version,
    }


def agent(a: Agent, blocks: Sequence[Block]) -> Json:
    """Letta's ``AgentState`` with its memory; ``block_ids`` (attachments, in order) is gitmem's."""
    shown = [block(b) for b in blocks]
    provider, _, name = (a.model or "").rpartition("/")
    return {
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "model": a.model,
        "metadata": _plain(a.metadata),
        "agent_type": AGENT_TYPE,
        "blocks": shown,
        "memory": {"blocks": shown, "agent_type": AGENT_TYPE},
        "block_ids": list(a.block_ids),
        "llm_config": {
            "model": name or None,
            "handle": a.model,
            "model_endpoint_type": provider or None,
            "context_window": None,
        },
        "system": "",
        "tags": [],
        "tools": [],
        "sources": [],
    }


def tool_result(status: str, func_return: str | None, stderr: Sequence[str] = ()) -> Json:
    """Letta's ``ToolExecutionResult`` as its server returns it (no ``agent_state``)."""
    return {
        "status": status,
        "func_return": func_return,
        "agent_state": None,
        "stdout": [],
        "stderr": list(stderr),
        "sandbox_config_fingerprint": None,
    }


def paged(items: Sequence[T], key: Callable[[T], str], page: Page) -> list[T]:
    """One page of ``items`` (in the store's order, by id, or reversed): those after
    ``page.after`` and before ``page.before``, at most ``page.limit``.

    Letta's client asks for the next page with ``after=<last id>`` until a page
    is empty, so a cursor that is not in the list gives an empty page.
    """
    chosen = list(reversed(items)) if page.descending else list(items)
    ids = [key(item) for item in chosen]
    if page.after is not None:
        chosen = chosen[ids.index(page.after) + 1 :] if page.after in ids else []
        ids = [key(item) for item in chosen]
    if page.before is not None:
        chosen = chosen[: ids.index(page.before)] if page.before in ids else []
        if page.limit is not None and page.after is None:
            return chosen[max(0, len(chosen) - page.limit) :]
    return chosen if page.limit is None else chosen[: page.limit]


def _plain(value: Mapping[str, object]) -> Json:
    """Metadata as JSON can carry it (YAML may hold dates and the like: as text)."""
    plain: Json = json.loads(json.dumps(value, default=str))
    return plain
