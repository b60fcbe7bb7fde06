"""The memory tools as an MCP server offers them to a model: what each is called,
a description that teaches when and how to use it, the JSON schema of its
arguments, and the call itself on one agent's Memory. No MCP SDK here
(mcp_server.py serves these), so the texts and the calls can be read and tested
on their own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gitmem.errors import ValidationError
from gitmem.ops.memory import Memory, render_block

Arguments = Mapping[str, object]  # as the model sent them (JSON): checked where used
LABEL = "The label of one of your memory blocks, e.g. `persona` (memory_view lists them)."


@dataclass(frozen=True)
class Param:
    """One argument: its JSON type, what the model is told about it, and whether
    it may be left out."""

    type: str
    description: str
    optional: bool = False
    default: int | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    params: Mapping[str, Param]
    call: Callable[[Memory, Arguments], str]  # -> the text the model reads
    read_only: bool = False  # only reads memory
    destructive: bool = True  # may remove what is there (insert only adds)
    idempotent: bool = False  # a second identical call changes nothing more

    def schema(self) -> dict[str, object]:
        """The JSON schema of the arguments (``inputSchema``)."""
        properties: dict[str, dict[str, object]] = {}
        for name, p in self.params.items():
            properties[name] = {"type": p.type, "description": p.description}
            if p.default is not None:
                properties[name]["default"] = p.default
        required = [name for name, p in self.params.items() if not p.optional]
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }


def _text(arguments: Arguments, name: str) -> str:
    value = arguments[name]
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, not {type(value).__name__}")
    return value


def _integer(arguments: Arguments, name: str, default: int) -> int:
    value = arguments.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, not {value!r}")
    return value


def view(memory: Memory, label: str | None = None) -> str:
    """One block with its lines numbered, or (no label) the list of the agent's blocks."""
    if label is not None:
        return render_block(memory.block(label), numbered=True)
    blocks = memory.blocks()
    if not blocks:
        return f"Agent `{memory.agent_id}` has no memory blocks attached."
    lines = [
        f"Memory blocks of agent `{memory.agent_id}` (characters used/limit); "
        "call memory_view with a label to read one:"
    ]
    for b in blocks:
        flags = ", read-only" if b.read_only else ""
        about = " ".join(b.description.split()) or "(no description)"
        lines.append(f"- {b.label} ({len(b.value)}/{b.limit} chars{flags}): {about}")
    return "\n".join(lines)


TOOLS = {
    t.name: t
    for t in [
        ToolSpec(
            "memory_view",
            "Read your memory. Without `label`: the list of your memory blocks, each with its "
            "description, its size (characters used/limit) and whether it is read-only. With "
            "`label`: that block's description, size and text, each line numbered `N→ ` so "
            "that you can pick `insert_line` for memory_insert. The numbers are not part of "
            "the text: never copy them into an edit. Blocks shared with other agents can have "
            "changed since your prompt was written; view one before you replace text in it.",
            {"label": Param("string", "Leave out to list your blocks. " + LABEL, optional=True)},
            lambda m, a: view(m, _text(a, "label") if "label" in a else None),
            read_only=True,
            destructive=False,
            idempotent=True,
        ),
        ToolSpec(
            "memory_insert",
            "Add text to one of your memory blocks, keeping everything already in it. "
            "`new_string` goes in as whole lines after line `insert_line` (numbered as "
            "memory_view shows them: 0 puts it at the top, -1, the default, at the end). "
            "Use it to note a new fact, a decision or a finished task. Inserts by several "
            "agents into a shared block all land, so prefer it to rewriting. Fails on a "
            "read-only block and when the block would grow past its character limit.",
            {
                "label": Param("string", LABEL),
                "new_string": Param(
                    "string", "The text to insert: one or more lines, without line numbers."
                ),
                "insert_line": Param(
                    "integer",
                    "Insert after this line: 0 for the top, -1 (the default) for the end.",
                    optional=True,
                    default=-1,
                ),
            },
            lambda m, a: m.memory_insert(
                _text(a, "label"), _text(a, "new_string"), _integer(a, "insert_line", -1)
            ),
            destructive=False,
        ),
        ToolSpec(
            "memory_replace",
            "Change part of a memory block: `old_string` is replaced by `new_string`. "
            "`old_string` must occur exactly once in the block, character for character "
            "(spaces and line breaks too, line numbers never): copy it from memory_view and "
            "take enough of the text around it to make it unique. An empty `new_string` "
            "deletes `old_string`. If someone changed that text since you read it, the call "
            "fails and changes nothing: view the block again and retry.",
            {
                "label": Param("string", LABEL),
                "old_string": Param(
                    "string", "Text found exactly once in the block, copied verbatim."
                ),
                "new_string": Param(
                    "string", "The text to put in its place (empty: delete old_string)."
                ),
            },
            lambda m, a: m.memory_replace(
                _text(a, "label"), _text(a, "old_string"), _text(a, "new_string")
            ),
        ),
        ToolSpec(
            "memory_rethink",
            "Rewrite a memory block as a whole: its text becomes `new_memory`. Use it to "
            "reorganise or condense a block that has grown untidy. It replaces everything, "
            "including what other agents wrote since you last read the block, so view the "
            "block first; for a small change use memory_replace, to add use memory_insert.",
            {
                "label": Param("string", LABEL),
                "new_memory": Param(
                    "string", "The complete new text of the block, without line numbers."
                ),
            },
            lambda m, a: m.memory_rethink(_text(a, "label"), _text(a, "new_memory")),
            idempotent=True,
        ),
    ]
}


def call(memory: Memory, name: str, arguments: Arguments | None) -> str:
    """Run tool ``name`` for ``memory``'s agent; GitmemError carries what went wrong."""
    tool = TOOLS.get(name)
    if tool is None:
        raise ValidationError(f"Unknown tool `{name}`; the tools are: {', '.join(TOOLS)}.")
    given = {k: v for k, v in (arguments or {}).items() if v is not None}
    for key in given:
        if key not in tool.params:
            raise ValidationError(
                f"{name}: unknown argument `{key}`; it takes {', '.join(tool.params)}."
            )
    for key, param in tool.params.items():
        if key not in given and not param.optional:
            raise ValidationError(f"{name}: missing required argument `{key}`.")
    return tool.call(memory, given)
