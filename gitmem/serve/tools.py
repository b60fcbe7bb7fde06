"""``agents.tools.run``: Letta's memory tools, called by name with a JSON object of arguments.

Letta runs a tool as a Python call and answers 200 whatever the tool did: a
tool that fails gives ``status: "error"`` and the message in ``stderr``
(``Error executing function NAME: ValueError: ...``), so an agent reads it as it
would any tool's failure. The same here, with gitmem's messages (which are
Letta's). gitmem adds ``if_version`` to every tool's arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitmem.errors import CorruptError, GitmemError, NotFoundError, UnsupportedError
from gitmem.ops.memory import Memory
from gitmem.serve import wire
from gitmem.serve.schema import Json


@dataclass(frozen=True)
class Tool:
    """A memory tool: the ``Memory`` method of the same name and its arguments."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    # Older Letta versions' names for the same arguments.
    aliases: Mapping[str, str] = field(default_factory=dict)


TOOLS: dict[str, Tool] = {
    "memory_insert": Tool(("label", "new_string"), ("insert_line",), {"new_str": "new_string"}),
    "memory_replace": Tool(
        ("label", "old_string", "new_string"),
        aliases={"old_str": "old_string", "new_str": "new_string"},
    ),
    "memory_rethink": Tool(("label", "new_memory")),
    "core_memory_append": Tool(("label", "content")),
    "core_memory_replace": Tool(("label", "old_content", "new_content")),
}
# Arguments a model adds to every call in Letta, which the tool never sees.
_DROPPED = frozenset({"request_heartbeat"})


def unknown(tool_name: str, agent_id: str) -> NotFoundError:
    return NotFoundError(
        f"Tool '{tool_name}' not found or not attached to agent '{agent_id}' "
        f"(gitmem serves the memory tools: {', '.join(TOOLS)})"
    )


def run(memory: Memory, tool_name: str, args: Mapping[str, object]) -> Json:
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
        # The method checks its arguments' types itself (a ValidationError).
        result: str | None = getattr(memory, tool_name)(**given)
    except (CorruptError, UnsupportedError):
        raise  # the store is broken, not the call: the server says so (500)
    except GitmemError as e:
        # Letta's memory tools raise ValueError for everything a caller got wrong.
        return _failed(tool_name, "ValueError", str(e))
    return wire.tool_result("success", result)


def _failed(tool_name: str, kind: str, message: str) -> Json:
    return wire.tool_result(
        "error", None, [f"Error executing function {tool_name}: {kind}: {message}"]
    )
