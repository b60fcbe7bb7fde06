"""Agent manifests (``agents/<agent-id>.yaml``): parse, dump and validate (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitmem.errors import ValidationError
from gitmem.model.block import check_markers, decode
from gitmem.model.ids import agent_path, check_agent_id, check_block_id
from gitmem.model.yamlmap import dump_mapping, load_mapping

KEYS = ("name", "description", "model", "blocks", "metadata")


@dataclass(frozen=True)
class Agent:
    """An agent: who it is and which blocks it has attached, in order."""

    id: str
    name: str
    description: str = ""
    model: str | None = None
    block_ids: tuple[str, ...] = ()
    metadata: Mapping[str, object] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return agent_path(self.id)


def field_problem(key: str, value: object) -> str | None:
    """What is wrong with ``value`` for manifest ``key``, or None."""
    if key == "name":
        if not isinstance(value, str) or not value.strip():
            return "'name' must be non-empty text"
    elif key in ("description", "model"):
        if value is not None and not isinstance(value, str):
            return f"{key!r} must be text, not {type(value).__name__}"
    elif key == "blocks":
        if value is not None and not isinstance(value, list):
            return f"'blocks' must be a list of block ids, not {type(value).__name__}"
        ids = value or []
        for block_id in ids:
            try:
                check_block_id(block_id)
            except ValidationError as e:
                return f"'blocks': {e}"
        if len(set(ids)) != len(ids):
            dup = next(b for b in ids if ids.count(b) > 1)
            return f"'blocks': block {dup!r} is listed twice"
    elif key == "metadata" and value is not None and not isinstance(value, Mapping):
        return f"'metadata' must be a mapping of keys to values, not {type(value).__name__}"
    return None


def check(agent: Agent) -> Agent:
    """Raise ValidationError naming the first thing wrong with ``agent``; return it if fine."""
    check_agent_id(agent.id)
    values = {**_front(agent), "blocks": list(agent.block_ids), "metadata": agent.metadata}
    for key, value in values.items():
        problem = field_problem(key, value)
        if problem:
            raise ValidationError(f"agent {agent.id!r}: {problem}")
    return agent


def parse(data: bytes, *, agent_id: str, path: str) -> Agent:
    """Read a manifest; every error is one line ``path:line: message``."""
    try:
        check_agent_id(agent_id)
    except ValidationError as e:
        raise ValidationError(f"{path}:1: {e}") from None
    text = decode(data, path).replace("\r\n", "\n")
    check_markers(text, path)
    fm = load_mapping(text, path=path, first_line=1, allowed=KEYS)
    for key, value in fm.values.items():
        problem = field_problem(key, value)
        if problem:
            raise ValidationError(f"{path}:{fm.line(key)}: {problem}")
    return Agent(
        id=agent_id,
        name=fm.get("name", str, "") or agent_id,
        description=fm.get("description", str, ""),
        model=fm.get("model", str, None),
        block_ids=tuple(fm.get("blocks", list, [])),
        metadata=fm.get("metadata", dict, {}),
    )


def _front(agent: Agent) -> dict[str, object]:
    front: dict[str, object] = {"name": agent.name, "description": agent.description}
    if agent.model is not None:
        front["model"] = agent.model
    return front


def dump(agent: Agent) -> bytes:
    """The manifest text of ``agent``, keys in fixed order.

    Raises ValidationError rather than return text that ``parse`` would refuse.
    """
    values = {**_front(agent), "blocks": list(agent.block_ids), "metadata": dict(agent.metadata)}
    data = dump_mapping(values, what=f"agent {agent.id!r}").encode("utf-8")
    parse(data, agent_id=agent.id, path=agent.path)
    return data
