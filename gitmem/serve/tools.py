"""``agents.tools.run``: Letta's memory tools, called by name with a JSON object of arguments.

Letta runs a tool as a Python call and answers 200 whatever the tool did: a
tool that fails gives ``status: "error"`` and the message in ``stderr``
(``Error executing function NAME: ValueError: ...``), so an agent reads it as it
would any tool's failure. The same here, with gitmem's messages (which are
Letta's). gitmem adds ``if_version`` to every tool's arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitmem.errors import CorruptError, GitmemError, NotFoundError, UnsupportedError
from gitmem.ops.memory import Memory
from gitmem.serve import wire


@dataclass(frozen=True)
class Tool:
    required: tuple[str, ...]
    optional: Mapping[str, Any]
    run: Callable[..., str | None]  # (memory, **args)
    # Older Letta versions' names for the same arguments.
    aliases: Mapping[str, str]


TOOLS: dict[str, Tool] = {
    "memory_insert": Tool(
        ("label", "new_string"),
        {"insert_line": -1},
        Memory.memory_insert,
        {"new_str": "new_string"},
    ),
    "memory_replace": Tool(
        ("label", "old_string", "new_string"),
        {},
        Memory.memory_replace,
        {"old_str": "old_string", "new_str": "new_string"},
    ),
    "memory_rethink": Tool(("label", "new_memory"), {}, Memory.memory_rethink, {}),
    "core_memory_append": Tool(("label", "content"), {}, Memory.core_memory_append, {}),
    "core_memory_replace": Tool(
        ("label", "old_content", "new_content"), {}, Memory.core_memory_replace, {}
    ),
}
# Arguments a model adds to every call in Letta, which the tool never sees.
_DROPPED = frozenset({"request_heartbeat"})


def unknown(tool_name: str, agent_id: str) -> NotFoundError:
    return NotFoundError(
        f"Tool '{tool_name}' not found or not attached to agent '{agent_id}' "
        f"(gitmem serves the memory tools: {', '.join(TOOLS)})"
    )


def run(memory: Memory, tool_name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Run the tool as ``memory``'s agent: one commit by it if the block changed."""
    tool = TOOLS[tool_name]
    given = {tool.aliases.get(k, k): v for k, v in args.items() if k not in _DROPPED}
    allowed = {*tool.required, *tool.optional, "if_version"}
    problem = next(
        (f"got an unexpected keyword argument '{k}'" for k in given if k not in allowed), None
    )
    missing = [name for name in tool.required if name not in given]
    if problem is None and missing:
        problem = f"missing 1 required positional argument: '{missing[0]}'"
    if problem is not None:
        return _failed(tool_name, "TypeError", f"{tool_name}() {problem}")
    try:
        result = tool.run(memory, **given)
    except (CorruptError, UnsupportedError):
        raise  # the store is broken, not the call: the server says so (500)
    except GitmemError as e:
        # Letta's memory tools raise ValueError for everything a caller got wrong.
        return _failed(tool_name, "ValueError", str(e))
    return wire.tool_result("success", result)


def _failed(tool_name: str, kind: str, message: str) -> dict[str, Any]:
    return wire.tool_result(
        "error", None, [f"Error executing function {tool_name}: {kind}: {message}"]
    )
