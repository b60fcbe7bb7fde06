"""Memory tools: what an agent calls to edit the blocks attached to it, by label.

Names, parameters and messages follow Letta's memory tools, so agents prompted
for Letta work unchanged. Each call is applied to the newest state under the
store lock and is one commit by the agent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from gitmem.errors import (
    BadFileError,
    ConflictError,
    LimitExceededError,
    NotFoundError,
    ReadOnlyError,
    ValidationError,
)
from gitmem.git.commit import agent_identity
from gitmem.model import block as blockfmt
from gitmem.model.block import Block, value_lines
from gitmem.model.ids import block_path, check_version
from gitmem.ops.store import Store, Write
from gitmem.ops.view import View

READ_ONLY = "This block is read-only and cannot be edited."
EDITED = (
    "The core memory block with label `{label}` has been edited. Review the changes and make "
    "sure they are as expected (correct indentation, no duplicate lines, etc). Edit the memory "
    "block again if necessary."
)
# Views that number lines ("12→ text") are for reading; an agent that copies
# the numbers into an edit would write them into the block.
LINE_NUMBER_PREFIX = re.compile(r"^[ \t]*\d+→[ \t]*", re.MULTILINE)
LINE_NUMBER_WARNING = (
    "# NOTE: Line numbers shown below (with arrows like '1→') are to help during editing. "
    "Do NOT include line number prefixes in your memory edit tool calls."
)


def _check_text(name: str, text: object) -> None:
    if not isinstance(text, str):
        raise ValidationError(f"{name} must be a string, not {type(text).__name__}")


def _refuse_line_numbers(name: str, text: str) -> None:
    _check_text(name, text)
    if LINE_NUMBER_PREFIX.search(text):
        raise ValidationError(
            f"{name} contains a line number prefix, which is not allowed. Do not include line "
            "numbers when calling memory tools (line numbers are for display purposes only)."
        )
    if LINE_NUMBER_WARNING in text:
        raise ValidationError(
            f"{name} contains a line number warning, which is not allowed. Do not include line "
            "number information when calling memory tools (line numbers are for display "
            "purposes only)."
        )


class Memory:
    """One agent's core memory: its attached blocks, addressed by label."""

    def __init__(self, store: Store, agent_id: str) -> None:
        self._store = store
        self.agent_id = agent_id
        store.view().agent(agent_id)  # fail early for an unknown agent

    def blocks(self) -> list[Block]:
        view = self._store.view()
        return view.attached(view.agent(self.agent_id))

    def block(self, label: str) -> Block:
        return _by_label(self._store.view(), self.agent_id, label)

    def _edit(
        self,
        op: str,
        label: str,
        edit: Callable[[str], str],
        if_version: str | None,
        texts: dict[str, str],
        args: dict[str, object] | None = None,
    ) -> str:
        if if_version is not None:
            if_version = check_version(if_version)

        def build(view: View) -> tuple[Write | None, str]:
            old = _by_label(view, self.agent_id, label)
            # Letta's order: which block, then read-only, then the arguments.
            if old.read_only:
                raise ReadOnlyError(READ_ONLY)
            for name, text in texts.items():
                _refuse_line_numbers(name, text)
            if if_version is not None and old.version != if_version:
                raise ConflictError(
                    f"block {old.id!r} changed: you read version {if_version}, "
                    f"it is now {old.version}"
                )
            value = edit(old.value)
            if len(value) > old.limit:
                raise LimitExceededError(
                    f"Edit failed: Exceeds {old.limit} character limit (requested {len(value)})."
                )
            message = EDITED.format(label=label)
            if value == old.value:
                return None, message
            new = replace(old, value=value, version=None)
            files: dict[str, bytes | None] = {new.path: blockfmt.dump(new)}
            return Write(files, new.id, (new.id,), args=args), message

        return self._store.transact(
            build, op=op, author=agent_identity(self.agent_id), agent=self.agent_id
        )

    def memory_insert(
        self, label: str, new_string: str, insert_line: int = -1, *, if_version: str | None = None
    ) -> str:
        """Insert ``new_string`` as lines after line ``insert_line`` (0: top, -1: end)."""
        if isinstance(insert_line, bool) or not isinstance(insert_line, int):
            raise ValidationError(f"insert_line must be an integer, not {insert_line!r}")

        def edit(value: str) -> str:
            lines = value_lines(value)
            at = len(lines) if insert_line == -1 else insert_line
            if not 0 <= at <= len(lines):
                raise ValidationError(
                    f"Invalid `insert_line` parameter: {insert_line}. It should be within the "
                    f"range of lines of the memory block: {[0, len(lines)]}, or -1 to append to "
                    "the end of the memory block."
                )
            return "\n".join(lines[:at] + new_string.split("\n") + lines[at:])

        args = {"new_string": new_string, "insert_line": insert_line}
        return self._edit(
            "memory_insert", label, edit, if_version, {"new_string": new_string}, args
        )

    def memory_replace(
        self, label: str, old_string: str, new_string: str, *, if_version: str | None = None
    ) -> str:
        """Replace the one occurrence of ``old_string`` with ``new_string``."""

        def edit(value: str) -> str:
            count = value.count(old_string)
            if count == 0:
                raise ConflictError(
                    f"No replacement was performed, old_string `{old_string}` did not appear "
                    f"verbatim in memory block with label `{label}`."
                )
            if count > 1:
                lines = [i for i, line in enumerate(value.split("\n"), 1) if old_string in line]
                raise ConflictError(
                    f"No replacement was performed. Multiple occurrences of old_string "
                    f"`{old_string}` in lines {lines}. Please ensure it is unique."
                )
            return value.replace(old_string, new_string)

        texts = {"old_string": old_string, "new_string": new_string}
        return self._edit("memory_replace", label, edit, if_version, texts, dict(texts))

    def memory_rethink(self, label: str, new_memory: str, *, if_version: str | None = None) -> str:
        """Rewrite the whole value of the block."""
        texts = {"new_memory": new_memory}
        return self._edit("memory_rethink", label, lambda _: new_memory, if_version, texts)

    def core_memory_append(
        self, label: str, content: str, *, if_version: str | None = None
    ) -> None:
        """Letta's original append: ``content`` as a new last line (no blank
        first line in an empty block)."""
        # Letta's original tools take line numbers as text: only the type is checked.
        _check_text("content", content)
        self._edit(
            "core_memory_append",
            label,
            lambda value: f"{value}\n{content}" if value else content,
            if_version,
            {},
            {"content": content},
        )

    def core_memory_replace(
        self, label: str, old_content: str, new_content: str, *, if_version: str | None = None
    ) -> None:
        """Letta's original replace: every occurrence of ``old_content`` becomes
        ``new_content``; it must occur at least once."""
        texts: dict[str, object] = {"old_content": old_content, "new_content": new_content}
        for name, text in texts.items():
            _check_text(name, text)
        if not old_content:  # "" is in every value, and would be put between every character
            raise ValidationError("old_content must not be empty")

        def edit(value: str) -> str:
            if old_content not in value:
                raise ConflictError(
                    f"Old content '{old_content}' not found in memory block '{label}'"
                )
            return value.replace(old_content, new_content)

        self._edit("core_memory_replace", label, edit, if_version, {}, texts)

    def compile(self) -> str:
        """The agent's blocks rendered as Letta renders core memory for a prompt."""
        return render(self.blocks())


def _by_label(view: View, agent_id: str, label: str) -> Block:
    agent = view.agent(agent_id)
    for found in view.attached(agent):
        if found.label == label:
            return found
    # An attached block whose file is not valid has no label to match: it may
    # be the one asked for, so say what is wrong with it.
    skipped = [view.problems[p] for p in map(block_path, agent.block_ids) if p in view.problems]
    if skipped:
        raise BadFileError(skipped[0])
    raise NotFoundError(f"Memory block with label `{label}` is not attached to agent `{agent_id}`.")


def render(blocks: list[Block]) -> str:
    """Letta's ``<memory_blocks>`` text for ``blocks`` ("" when there are none)."""
    if not blocks:
        return ""
    return (
        "<memory_blocks>\nThe following memory blocks are currently engaged in your core "
        "memory unit:\n\n" + "\n".join(map(render_block, blocks)) + "\n</memory_blocks>"
    )


def render_block(b: Block, *, numbered: bool = False) -> str:
    """One block as Letta renders it in core memory. ``numbered``: its lines as
    ``N→ text`` after a warning not to copy the numbers, as Letta shows them to
    models that edit by line (``insert_line`` counts the same lines)."""
    read_only = "\n- read_only=true" if b.read_only else ""
    warning, value = "", f"{b.value}\n"
    if numbered:
        warning = f"<warning>\n{LINE_NUMBER_WARNING}\n</warning>\n"
        value = "".join(f"{n}→ {line}\n" for n, line in enumerate(value_lines(b.value), 1))
    return (
        f"<{b.label}>\n<description>\n{b.description}\n</description>\n"
        f"<metadata>{read_only}\n- chars_current={len(b.value)}\n- chars_limit={b.limit}\n"
        f"</metadata>\n{warning}<value>\n{value}</value>\n</{b.label}>\n"
    )
