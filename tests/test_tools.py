"""The memory tools agents call: Letta's semantics and messages, one commit per change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import gitmem
from gitmem.cli import main
from gitmem.errors import (
    ConflictError,
    GitmemError,
    LimitExceededError,
    NotFoundError,
    ReadOnlyError,
    ValidationError,
)
from tests.conftest import assert_clean, git

EDITED = (
    "The core memory block with label `{}` has been edited. Review the changes and make sure "
    "they are as expected (correct indentation, no duplicate lines, etc). Edit the memory block "
    "again if necessary."
)
READ_ONLY = "This block is read-only and cannot be edited."


@pytest.fixture
def memory(client: gitmem.Client) -> gitmem.Memory:
    """Agent ``worker`` with ``notes`` (three lines), an empty ``scratch`` and a read-only block."""
    client.blocks.create(label="notes", value="one\ntwo\nthree", limit=40)
    client.blocks.create(label="scratch")
    client.blocks.create(label="rules", value="be kind", read_only=True)
    client.agents.create(name="worker", block_ids=["notes", "scratch", "rules"])
    return client.agents.memory("worker")


def value(client: gitmem.Client, block_id: str) -> str:
    return client.blocks.retrieve(block_id).value


def head(client: gitmem.Client) -> str:
    return git(client.path, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    ("insert_line", "expected"),
    [
        (0, "new\none\ntwo\nthree"),
        (1, "one\nnew\ntwo\nthree"),
        (2, "one\ntwo\nnew\nthree"),
        (3, "one\ntwo\nthree\nnew"),
        (-1, "one\ntwo\nthree\nnew"),
    ],
)
def test_insert_puts_lines_after_insert_line(
    client: gitmem.Client, memory: gitmem.Memory, insert_line: int, expected: str
) -> None:
    assert memory.memory_insert("notes", "new", insert_line) == EDITED.format("notes")
    assert value(client, "notes") == expected
    assert_clean(client.path)


def test_insert_of_several_lines_and_the_default_appends(
    client: gitmem.Client, memory: gitmem.Memory
) -> None:
    memory.memory_insert("notes", "a\nb", 1)
    memory.memory_insert("notes", "end")
    assert value(client, "notes") == "one\na\nb\ntwo\nthree\nend"


def test_an_empty_block_has_no_lines(client: gitmem.Client, memory: gitmem.Memory) -> None:
    # Letta counts one empty line in an empty block, so its first append starts
    # with a blank line; gitmem counts none, so the first line is the text.
    with pytest.raises(ValidationError) as refused:
        memory.memory_insert("scratch", "x", 1)
    assert str(refused.value) == (
        "Invalid `insert_line` parameter: 1. It should be within the range of lines of the "
        "memory block: [0, 0], or -1 to append to the end of the memory block."
    )
    memory.memory_insert("scratch", "first")
    assert value(client, "scratch") == "first"
    memory.memory_rethink("scratch", "")
    memory.memory_insert("scratch", "again", 0)
    assert value(client, "scratch") == "again"


@pytest.mark.parametrize("insert_line", [4, 100, -2])
def test_insert_line_out_of_range(
    client: gitmem.Client, memory: gitmem.Memory, insert_line: int
) -> None:
    before = head(client)
    with pytest.raises(ValidationError) as refused:
        memory.memory_insert("notes", "x", insert_line)
    assert str(refused.value) == (
        f"Invalid `insert_line` parameter: {insert_line}. It should be within the range of "
        "lines of the memory block: [0, 3], or -1 to append to the end of the memory block."
    )
    assert head(client) == before


def test_replace_exactly_one_occurrence(client: gitmem.Client, memory: gitmem.Memory) -> None:
    assert memory.memory_replace("notes", "two", "2") == EDITED.format("notes")
    assert value(client, "notes") == "one\n2\nthree"
    memory.memory_replace("notes", "one\n2", "one and 2")
    assert value(client, "notes") == "one and 2\nthree"
    assert_clean(client.path)


def test_replace_that_finds_nothing_is_a_conflict(
    client: gitmem.Client, memory: gitmem.Memory
) -> None:
    before = head(client)
    with pytest.raises(ConflictError) as refused:
        memory.memory_replace("notes", "four", "4")
    assert str(refused.value) == (
        "No replacement was performed, old_string `four` did not appear verbatim in memory "
        "block with label `notes`."
    )
    assert head(client) == before


def test_replace_that_finds_several_lists_their_lines(
    client: gitmem.Client, memory: gitmem.Memory
) -> None:
    memory.memory_rethink("notes", "a cat\nno\na cat and a cat\nend")
    with pytest.raises(ConflictError) as refused:
        memory.memory_replace("notes", "cat", "dog")
    assert str(refused.value) == (
        "No replacement was performed. Multiple occurrences of old_string `cat` in lines "
        "[1, 3]. Please ensure it is unique."
    )
    assert value(client, "notes") == "a cat\nno\na cat and a cat\nend"


def test_rethink_rewrites_the_value(client: gitmem.Client, memory: gitmem.Memory) -> None:
    assert memory.memory_rethink("notes", "all new\n\nvalue") == EDITED.format("notes")
    assert value(client, "notes") == "all new\n\nvalue"


def prefix_message(name: str) -> str:
    return (
        f"{name} contains a line number prefix, which is not allowed. Do not include line "
        "numbers when calling memory tools (line numbers are for display purposes only)."
    )


WARNING = (
    "# NOTE: Line numbers shown below (with arrows like '1→') are to help during editing. "
    "Do NOT include line number prefixes in your memory edit tool calls."
)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.memory_insert("notes", "12→ copied"), prefix_message("new_string")),
        (lambda m: m.memory_insert("notes", "ok\n  3→\tx"), prefix_message("new_string")),
        (lambda m: m.memory_replace("notes", "2→ two", "2"), prefix_message("old_string")),
        (lambda m: m.memory_replace("notes", "two", "1→ 2"), prefix_message("new_string")),
        (lambda m: m.memory_rethink("notes", "x\n7→ y"), prefix_message("new_memory")),
        (
            lambda m: m.memory_rethink("notes", WARNING + "\nx"),
            "new_memory contains a line number warning, which is not allowed. Do not include "
            "line number information when calling memory tools (line numbers are for display "
            "purposes only).",
        ),
    ],
)
def test_line_number_prefixes_are_refused(
    client: gitmem.Client,
    memory: gitmem.Memory,
    call: Callable[[gitmem.Memory], str],
    message: str,
) -> None:
    before = head(client)
    with pytest.raises(ValidationError) as refused:
        call(memory)
    assert str(refused.value) == message
    assert head(client) == before


def test_numbers_and_arrows_elsewhere_are_text(
    client: gitmem.Client, memory: gitmem.Memory
) -> None:
    memory.memory_insert("notes", "step 12→ 13 and 1 → 2")
    assert value(client, "notes").endswith("\nstep 12→ 13 and 1 → 2")


TOOLS: list[Callable[[gitmem.Memory, str], str]] = [
    lambda m, label: m.memory_insert(label, "x"),
    lambda m, label: m.memory_insert(label, "x", 9),
    lambda m, label: m.memory_replace(label, "be kind", "be rude"),
    lambda m, label: m.memory_rethink(label, "x"),
    lambda m, label: m.memory_rethink(label, "1→ x"),
]


@pytest.mark.parametrize("call", TOOLS)
def test_read_only_blocks_refuse_every_tool(
    client: gitmem.Client, memory: gitmem.Memory, call: Callable[[gitmem.Memory, str], str]
) -> None:
    before = head(client)
    with pytest.raises(ReadOnlyError) as refused:
        call(memory, "rules")
    assert str(refused.value) == READ_ONLY
    assert head(client) == before
    # ...while people may still change them.
    client.blocks.update("rules", value="be very kind")
    assert value(client, "rules") == "be very kind"


@pytest.mark.parametrize("call", TOOLS)
def test_only_attached_blocks_are_reachable(
    client: gitmem.Client, memory: gitmem.Memory, call: Callable[[gitmem.Memory, str], str]
) -> None:
    client.blocks.create(label="secret", value="be kind")
    client.agents.create(name="other", block_ids=["secret"])
    for label in ("secret", "nothing"):
        with pytest.raises(NotFoundError) as refused:
            call(memory, label)
        assert str(refused.value) == (
            f"Memory block with label `{label}` is not attached to agent `worker`."
        )
    assert value(client, "secret") == "be kind"


def test_labels_not_ids_address_blocks(client: gitmem.Client) -> None:
    client.agents.create(name="w", memory_blocks=[{"label": "persona", "value": "I am w"}])
    memory = client.agents.memory("w")
    memory.memory_insert("persona", "and careful")
    assert value(client, "w/persona") == "I am w\nand careful"
    with pytest.raises(NotFoundError, match="label `w/persona` is not attached to agent `w`"):
        memory.memory_insert("w/persona", "x")


def test_unknown_agent(client: gitmem.Client) -> None:
    with pytest.raises(NotFoundError) as refused:
        client.agents.memory("nobody")
    assert str(refused.value) == "agent 'nobody' does not exist"


@pytest.mark.parametrize(
    ("call", "requested"),
    [
        (lambda m: m.memory_insert("notes", "x" * 27), 41),
        (lambda m: m.memory_replace("notes", "two", "t" * 31), 41),
        (lambda m: m.memory_rethink("notes", "r" * 41), 41),
    ],
)
def test_the_limit_applies_with_requested_and_allowed_characters(
    client: gitmem.Client,
    memory: gitmem.Memory,
    call: Callable[[gitmem.Memory], str],
    requested: int,
) -> None:
    before = head(client)
    with pytest.raises(LimitExceededError) as refused:
        call(memory)
    assert str(refused.value) == (
        f"Edit failed: Exceeds 40 character limit (requested {requested})."
    )
    assert head(client) == before
    memory.memory_rethink("notes", "r" * 40)  # exactly the limit is fine


@pytest.mark.parametrize(
    "call",
    [
        lambda m, v: m.memory_insert("notes", "x", if_version=v),
        lambda m, v: m.memory_replace("notes", "one", "1", if_version=v),
        lambda m, v: m.memory_rethink("notes", "x", if_version=v),
    ],
)
def test_if_version_conflicts_name_both_versions(
    client: gitmem.Client, memory: gitmem.Memory, call: Callable[[gitmem.Memory, str], str]
) -> None:
    read = client.blocks.retrieve("notes").version
    assert read is not None
    assert read == git(client.path, "rev-parse", "HEAD:blocks/notes.md").strip()
    memory.memory_insert("notes", "by another")
    now = client.blocks.retrieve("notes").version
    assert now is not None
    before = head(client)
    with pytest.raises(ConflictError) as refused:
        call(memory, read)
    assert str(refused.value) == (
        f"block 'notes' changed: you read version {read}, it is now {now}"
    )
    assert head(client) == before
    assert call(memory, now) == EDITED.format("notes")


@pytest.mark.parametrize("version", ["garbage", "", "a" * 39, "g" * 40, 12])
@pytest.mark.parametrize(
    "call",
    [
        lambda c, m, v: m.memory_insert("notes", "x", if_version=v),
        lambda c, m, v: m.memory_replace("notes", "one", "1", if_version=v),
        lambda c, m, v: m.memory_rethink("notes", "x", if_version=v),
        lambda c, m, v: c.blocks.update("notes", value="x", if_version=v),
    ],
    ids=["insert", "replace", "rethink", "update"],
)
def test_if_version_that_is_no_version_is_a_usage_error(
    client: gitmem.Client,
    memory: gitmem.Memory,
    call: Callable[[gitmem.Client, gitmem.Memory, object], object],
    version: object,
) -> None:
    """Not a conflict (retrying would not help): the CLI exits 2 for it too."""
    before = head(client)
    with pytest.raises(ValidationError) as refused:
        call(client, memory, version)
    assert not isinstance(refused.value, ConflictError)
    assert str(refused.value) == (
        f"if_version {version!r} is not a block version (40 hex digits, as a block's version is)"
    )
    assert head(client) == before


def test_if_version_in_upper_case_is_the_same_version(
    client: gitmem.Client, memory: gitmem.Memory
) -> None:
    read = client.blocks.retrieve("notes").version
    assert read is not None
    memory.memory_insert("notes", "x", if_version=read.upper())
    again = client.blocks.retrieve("notes").version
    assert again is not None
    client.blocks.update("notes", value="y", if_version=again.upper())
    assert client.blocks.retrieve("notes").value == "y"


def test_each_change_is_one_commit_by_the_agent_and_a_no_op_is_none(
    client: gitmem.Client, memory: gitmem.Memory
) -> None:
    before = int(git(client.path, "rev-list", "--count", "HEAD"))
    memory.memory_insert("notes", "four")
    memory.memory_replace("notes", "four", "4")
    memory.memory_rethink("notes", "short")
    memory.memory_rethink("notes", "short")  # same value: nothing to commit
    memory.memory_replace("notes", "short", "short")
    log = git(client.path, "log", "-3", "--format=%an|%s|%(trailers:key=Gitmem-Op,valueonly)")
    assert log.split("\n\n")[:3] == [
        "worker|memory_rethink: notes|memory_rethink",
        "worker|memory_replace: notes|memory_replace",
        "worker|memory_insert: notes|memory_insert",
    ]
    assert int(git(client.path, "rev-list", "--count", "HEAD")) == before + 3
    assert_clean(client.path)


def test_failures_are_gitmem_errors(memory: gitmem.Memory) -> None:
    calls: list[Callable[[], str]] = [
        lambda: memory.memory_insert("rules", "x"),
        lambda: memory.memory_insert("nothing", "x"),
        lambda: memory.memory_replace("notes", "zzz", "x"),
        lambda: memory.memory_rethink("notes", "x" * 100),
    ]
    for call in calls:
        with pytest.raises(GitmemError):
            call()


COMPILED = """<memory_blocks>
The following memory blocks are currently engaged in your core memory unit:

<persona>
<description>
Who I am.
</description>
<metadata>
- chars_current=7
- chars_limit=100
</metadata>
<value>
I am w.
</value>
</persona>

<rules>
<description>

</description>
<metadata>
- read_only=true
- chars_current=15
- chars_limit=20000
</metadata>
<value>
be kind
be fair
</value>
</rules>

<empty>
<description>

</description>
<metadata>
- chars_current=0
- chars_limit=20000
</metadata>
<value>

</value>
</empty>

</memory_blocks>"""


def test_compile_renders_letta_core_memory(client: gitmem.Client) -> None:
    client.blocks.create(label="rules", value="be kind\nbe fair", read_only=True)
    client.blocks.create(label="empty")
    client.agents.create(
        name="w",
        memory_blocks=[
            {"label": "persona", "value": "I am w.", "description": "Who I am.", "limit": 100}
        ],
        block_ids=["rules", "empty"],
    )
    assert client.agents.memory("w").compile() == COMPILED
    client.agents.create(name="blank")
    assert client.agents.memory("blank").compile() == ""


def test_compile_single_block_and_after_an_edit(client: gitmem.Client) -> None:
    client.agents.create(name="w", memory_blocks=[{"label": "human", "value": "Pat"}])
    memory = client.agents.memory("w")
    memory.memory_insert("human", "likes tea")
    assert memory.compile() == (
        "<memory_blocks>\nThe following memory blocks are currently engaged in your core memory "
        "unit:\n\n<human>\n<description>\n\n</description>\n<metadata>\n- chars_current=13\n"
        "- chars_limit=20000\n</metadata>\n<value>\nPat\nlikes tea\n</value>\n</human>\n\n"
        "</memory_blocks>"
    )


# -- the CLI --------------------------------------------------------------


def cli(store: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), *args], input=input)


def test_cli_memory_commands(client: gitmem.Client, memory: gitmem.Memory) -> None:
    store = client.path
    out = cli(store, "memory", "insert", "worker", "notes", "zero", "--line", "0")
    assert (out.exit_code, out.output) == (0, EDITED.format("notes") + "\n")
    out = cli(store, "memory", "insert", "worker", "notes", "-", input="last\n")
    assert out.exit_code == 0
    assert value(client, "notes") == "zero\none\ntwo\nthree\nlast\n"
    out = cli(store, "memory", "replace", "worker", "notes", "two", "2")
    assert (out.exit_code, out.output) == (0, EDITED.format("notes") + "\n")
    out = cli(store, "memory", "rethink", "worker", "scratch", "-", input="from stdin")
    assert (out.exit_code, out.output) == (0, EDITED.format("scratch") + "\n")
    assert value(client, "scratch") == "from stdin"
    out = cli(store, "memory", "rethink", "worker", "scratch", "as argument")
    assert value(client, "scratch") == "as argument"
    assert_clean(store)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["insert", "worker", "notes", "x", "--line", "7"],
            1,
            "Invalid `insert_line` parameter: 7",
        ),
        (["insert", "worker", "rules", "x"], 1, READ_ONLY),
        (["insert", "worker", "nope", "x"], 1, "Memory block with label `nope` is not attached"),
        (["insert", "nobody", "notes", "x"], 1, "agent 'nobody' does not exist"),
        (["insert", "worker", "notes", "9→ x"], 1, "new_string contains a line number prefix"),
        (["rethink", "worker", "notes", "x" * 41], 1, "Exceeds 40 character limit (requested 41)"),
        (["replace", "worker", "notes", "four", "4"], 3, "old_string `four` did not appear"),
        (["replace", "worker", "notes", "o", "0"], 3, "Multiple occurrences of old_string `o`"),
        (["insert", "worker", "notes"], 2, "Missing argument 'TEXT'"),
        (["insert", "worker", "notes", "x", "--line", "top"], 2, "'top' is not a valid integer"),
    ],
)
def test_cli_memory_errors_and_exit_codes(
    client: gitmem.Client, memory: gitmem.Memory, args: list[str], code: int, message: str
) -> None:
    before = head(client)
    out = cli(client.path, "memory", *args)
    assert out.exit_code == code
    assert message in out.output
    assert out.output.startswith("Error: ") or "Usage:" in out.output
    assert "Traceback" not in out.output
    assert head(client) == before


@pytest.mark.parametrize("command", [["insert", "x"], ["replace", "one", "1"], ["rethink", "x"]])
def test_cli_if_version_conflict_exits_3(
    client: gitmem.Client, memory: gitmem.Memory, command: list[str]
) -> None:
    store = client.path
    read = client.blocks.retrieve("notes").version
    memory.memory_insert("notes", "by another")
    now = client.blocks.retrieve("notes").version
    tool, *rest = command
    out = cli(store, "memory", tool, "worker", "notes", *rest, "--if-version", str(read))
    assert out.exit_code == 3
    assert out.output == (
        f"Error: block 'notes' changed: you read version {read}, it is now {now}\n"
    )
    out = cli(store, "memory", tool, "worker", "notes", *rest, "--if-version", str(now))
    assert out.exit_code == 0


def test_cli_agents_render(client: gitmem.Client) -> None:
    client.blocks.create(label="rules", value="be kind\nbe fair", read_only=True)
    client.blocks.create(label="empty")
    client.agents.create(
        name="w",
        memory_blocks=[
            {"label": "persona", "value": "I am w.", "description": "Who I am.", "limit": 100}
        ],
        block_ids=["rules", "empty"],
    )
    client.agents.create(name="blank")
    out = cli(client.path, "agents", "render", "w")
    assert (out.exit_code, out.output) == (0, COMPILED + "\n")
    out = cli(client.path, "agents", "render", "blank")
    assert (out.exit_code, out.output) == (0, "\n")
    out = cli(client.path, "agents", "render", "nobody")
    assert (out.exit_code, out.output) == (1, "Error: agent 'nobody' does not exist\n")


def test_core_memory_append_adds_a_line_as_the_agent(
    client: gitmem.Client, memory: gitmem.Memory
) -> None:
    memory.core_memory_append("notes", "four")
    assert value(client, "notes") == "one\ntwo\nthree\nfour"
    memory.core_memory_append("scratch", "first")  # no blank first line in an empty block
    assert value(client, "scratch") == "first"
    log = git(client.path, "log", "-2", "--format=%an|%s")
    assert log == "worker|core_memory_append: scratch\nworker|core_memory_append: notes\n"
    assert_clean(client.path)


def test_core_memory_replace_replaces_every_occurrence(
    client: gitmem.Client, memory: gitmem.Memory
) -> None:
    memory.core_memory_replace("notes", "o", "0")
    assert value(client, "notes") == "0ne\ntw0\nthree"
    before = head(client)
    with pytest.raises(ConflictError) as e:
        memory.core_memory_replace("notes", "five", "5")
    assert str(e.value) == "Old content 'five' not found in memory block 'notes'"
    with pytest.raises(ValidationError, match="old_content must not be empty"):
        memory.core_memory_replace("notes", "", "x")
    with pytest.raises(ValidationError, match="content must be a string, not int"):
        memory.core_memory_append("notes", 5)  # type: ignore[arg-type]
    with pytest.raises(ReadOnlyError, match=READ_ONLY):
        memory.core_memory_append("rules", "be quick")
    with pytest.raises(LimitExceededError):
        memory.core_memory_append("notes", "x" * 40)
    assert head(client) == before
