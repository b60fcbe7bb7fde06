"""Block and agent ids: the rules that keep every id a safe path inside the store,
and the one mapping between ids and the paths of their files."""

from __future__ import annotations

import re

from gitmem.errors import ValidationError

MAX_ID = 128
_SEGMENT = r"[a-z0-9][a-z0-9._-]*"
_AGENT_ID = re.compile(_SEGMENT)
_BLOCK_ID = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_RULE = "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit"


def check_block_id(block_id: object) -> str:
    """Return ``block_id`` if it is a valid block id, else raise ValidationError."""
    if not isinstance(block_id, str) or len(block_id) > MAX_ID or not _BLOCK_ID.fullmatch(block_id):
        raise ValidationError(
            f"invalid block id {block_id!r}: use up to {MAX_ID} characters of {_RULE}, "
            "in '/'-separated parts"
        )
    return block_id


def check_agent_id(agent_id: object) -> str:
    """Return ``agent_id`` if it is a valid agent id, else raise ValidationError."""
    if not isinstance(agent_id, str) or len(agent_id) > MAX_ID or not _AGENT_ID.fullmatch(agent_id):
        raise ValidationError(
            f"invalid agent id {agent_id!r}: use up to {MAX_ID} characters of {_RULE}"
        )
    return agent_id


# Where a store keeps blocks and agent manifests, and their files as .gitattributes
# and Path.glob match them.
BLOCKS = "blocks"
AGENTS = "agents"
DIRS = (BLOCKS, AGENTS)
BLOCK_FILES = f"{BLOCKS}/**/*.md"
AGENT_FILES = f"{AGENTS}/*.yaml"


def block_path(block_id: str) -> str:
    """The file of block ``block_id``: ``blocks/<block-id>.md``."""
    return f"{BLOCKS}/{block_id}.md"


def agent_path(agent_id: str) -> str:
    """The manifest of agent ``agent_id``: ``agents/<agent-id>.yaml``."""
    return f"{AGENTS}/{agent_id}.yaml"


def block_id_of(path: str) -> str | None:
    """The block id a path under ``blocks/`` names (not yet checked), or None for
    any other path."""
    top, _, rest = path.partition("/")
    return rest[: -len(".md")] if top == BLOCKS and rest.endswith(".md") else None


def agent_id_of(path: str) -> str | None:
    """The agent id a manifest path names (not yet checked), or None for any other path."""
    top, _, rest = path.partition("/")
    if top == AGENTS and rest.endswith(".yaml") and "/" not in rest:
        return rest[: -len(".yaml")]
    return None


def slug(text: str, fallback: str) -> str:
    """A valid id segment made from free text (``'Task Queue'`` -> ``'task-queue'``)."""
    s = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).lstrip("._-")[:64].rstrip("-")
    return s or fallback
