"""`gitmem mcp` as a real subprocess, driven by the official MCP SDK client (no
hand-written JSON-RPC), on the sample store: the worker's tools, resources and
change notifications, in both protocol eras the SDK speaks (the handshake era of
today's clients, with resources/subscribe, and 2026-07-28's subscriptions/listen).

Waits are for specific notifications, with generous timeouts; that a change
produced *no* notification is shown by the next change's notification coming
first (notifications come in commit order).

Each test starts servers, so all but one end-to-end test are marked slow: a
quick run (-m "not slow") still sees a server make a commit."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client, MCPDeprecationWarning, MCPError, StdioServerParameters, types
from mcp.client.session import IncomingMessage, MessageHandlerFnT
from mcp.client.stdio import stdio_client
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated, ServerEvent

import gitmem
from gitmem.cli import main
from gitmem.cli.mcp import INSTALL
from gitmem.mcp import tools as mcptools
from gitmem.ops.memory import EDITED, READ_ONLY
from tests.conftest import assert_clean, git

WAIT = 30.0  # seconds; only a broken server waits this long
CORE = "memory://core"
ORG = "memory://blocks/organization"
PREFS = "memory://blocks/user_preferences"  # the supervisor's; the worker lacks it
WORKER = "worker <worker@agents.gitmem>"


@asynccontextmanager
async def connect(
    store: Path,
    agent: str = "worker",
    *,
    legacy: bool = False,
    handler: MessageHandlerFnT | None = None,
    errlog: Path | None = None,
    said: str = "",
) -> AsyncIterator[Client]:
    """A client of a `gitmem mcp --agent AGENT` process; its stderr (to ``errlog``)
    must stay empty, or be ``said``."""
    errlog = errlog or store.parent / f"mcp-{agent}-{os.urandom(4).hex()}.err"
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "gitmem", "-C", str(store), "mcp", "--agent", agent],
        env=dict(os.environ),
    )
    with errlog.open("w") as err:
        transport = stdio_client(server, errlog=err)
        mode = "legacy" if legacy else "auto"
        async with Client(transport, mode=mode, message_handler=handler) as client:
            yield client
    assert errlog.read_text() == said


def text(result: types.CallToolResult) -> str:
    [content] = result.content
    assert isinstance(content, types.TextContent)
    return content.text


async def gitmem_cli(store: Path, *args: str) -> None:
    """Another process changing the store."""
    await anyio.run_process([sys.executable, "-m", "gitmem", "-C", str(store), *args])


def head(store: Path) -> str:
    return git(store, "rev-parse", "HEAD").strip()


@pytest.mark.slow
def test_tools_and_their_schemas(sample: gitmem.Client) -> None:
    async def run() -> list[types.Tool]:
        async with connect(sample.path) as client:
            return (await client.list_tools()).tools

    tools = anyio.run(run)
    assert [t.name for t in tools] == [
        "memory_view",
        "memory_insert",
        "memory_replace",
        "memory_rethink",
    ]
    for tool in tools:
        spec = mcptools.TOOLS[tool.name]
        assert tool.description == spec.description
        assert tool.input_schema == spec.schema()
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (tool.name == "memory_view")
    assert tools[1].input_schema == {
        "type": "object",
        "properties": {
            "label": {"type": "string", "description": mcptools.LABEL},
            "new_string": {
                "type": "string",
                "description": "The text to insert: one or more lines, without line numbers.",
            },
            "insert_line": {
                "type": "integer",
                "description": (
                    "Insert after this line: 0 for the top, -1 (the default) for the end."
                ),
                "default": -1,
            },
        },
        "required": ["label", "new_string"],
        "additionalProperties": False,
    }


def test_an_insert_is_one_commit_by_the_agent(sample: gitmem.Client) -> None:
    before = head(sample.path)

    async def run() -> types.CallToolResult:
        async with connect(sample.path) as client:
            args = {"label": "task_queue", "new_string": "[doing] T-2: call Dana"}
            return await client.call_tool("memory_insert", args)

    result = anyio.run(run)
    assert not result.is_error
    assert text(result) == EDITED.format(label="task_queue")
    log = git(sample.path, "log", "--format=%an <%ae>|%s", f"{before}..HEAD")
    assert log == f"{WORKER}|memory_insert: task_queue\n"
    assert sample.blocks.retrieve("task_queue").value == (
        "[done] T-1: Summarise last week's support tickets\n[doing] T-2: call Dana"
    )
    assert_clean(sample.path)


@pytest.mark.slow
def test_failures_are_tool_errors_with_the_message(sample: gitmem.Client) -> None:
    before = head(sample.path)
    calls: list[tuple[str, dict[str, object]]] = [
        ("memory_insert", {"label": "system_config", "new_string": "x"}),
        ("memory_rethink", {"label": "user_preferences", "new_memory": "x"}),
        ("memory_view", {"label": "nope"}),
        ("memory_replace", {"label": "organization", "old_string": "Zurich", "new_string": "x"}),
        ("memory_insert", {"label": "organization", "new_string": "3→ copied"}),
        ("memory_insert", {"label": "organization", "new_string": "x", "insert_line": 99}),
        ("memory_insert", {"label": "organization"}),
        ("memory_insert", {"label": "organization", "new_string": "x", "line": 2}),
        ("memory_delete", {"label": "organization"}),
    ]

    async def run() -> list[types.CallToolResult]:
        async with connect(sample.path) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    results = anyio.run(run)
    assert all(r.is_error for r in results)
    assert [text(r) for r in results] == [
        READ_ONLY,
        "Memory block with label `user_preferences` is not attached to agent `worker`.",
        "Memory block with label `nope` is not attached to agent `worker`.",
        "No replacement was performed, old_string `Zurich` did not appear verbatim in memory "
        "block with label `organization`.",
        "new_string contains a line number prefix, which is not allowed. Do not include line "
        "numbers when calling memory tools (line numbers are for display purposes only).",
        "Invalid `insert_line` parameter: 99. It should be within the range of lines of the "
        "memory block: [0, 3], or -1 to append to the end of the memory block.",
        "memory_insert: missing required argument `new_string`.",
        "memory_insert: unknown argument `line`; it takes label, new_string, insert_line.",
        "Unknown tool `memory_delete`; the tools are: memory_view, memory_insert, "
        "memory_replace, memory_rethink.",
    ]
    assert head(sample.path) == before
    assert_clean(sample.path)


@pytest.mark.slow
def test_memory_view_numbers_lines_and_lists_blocks(sample: gitmem.Client) -> None:
    async def run() -> tuple[str, str]:
        async with connect(sample.path) as client:
            one = await client.call_tool("memory_view", {"label": "organization"})
            every = await client.call_tool("memory_view", {})
            return text(one), text(every)

    one, every = anyio.run(run)
    assert one == (
        "<organization>\n<description>\nShared information between all agents. Company facts, "
        "policies and who does what.\n</description>\n<metadata>\n- chars_current=228\n"
        "- chars_limit=20000\n</metadata>\n<warning>\n# NOTE: Line numbers shown below (with "
        "arrows like '1→') are to help during editing. Do NOT include line number prefixes in "
        "your memory edit tool calls.\n</warning>\n<value>\n"
        "1→ Acme Robotics builds warehouse robots. Support hours: 08:00-18:00 CET, Monday to "
        "Friday.\n"
        "2→ Escalations go to the supervisor; refunds above 500 EUR need a human.\n"
        "3→ Agents: supervisor (plans and assigns work), worker (does the tasks).\n"
        "</value>\n</organization>\n"
    )
    lines = every.splitlines()
    assert lines[0] == (
        "Memory blocks of agent `worker` (characters used/limit); call memory_view with a "
        "label to read one:"
    )
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "- persona",
        "- organization",
        "- task_queue",
        "- domain_knowledge",
        "- handoff_context",
        "- system_config",
    ]
    assert lines[6] == (
        "- system_config (86/5000 chars, read-only): Settings the operators decide. Agents "
        "read them and must not change them."
    )


@pytest.mark.slow
def test_resources_are_core_memory_and_each_block(sample: gitmem.Client) -> None:
    async def run() -> tuple[list[types.Resource], str, str, str]:
        async with connect(sample.path) as client:
            listed = (await client.list_resources()).resources
            core = (await client.read_resource(CORE)).contents[0]
            org = (await client.read_resource(ORG)).contents[0]
            assert isinstance(core, types.TextResourceContents)
            assert isinstance(org, types.TextResourceContents)
            with pytest.raises(MCPError) as lacking:
                await client.read_resource(PREFS)
            # The agent deleted under the server: errors, not a crash.
            await gitmem_cli(sample.path, "agents", "delete", "worker")
            with pytest.raises(MCPError) as deleted:
                await client.read_resource(CORE)
            assert str(deleted.value) == "agent 'worker' does not exist"
            gone = await client.call_tool("memory_view", {})
            assert (gone.is_error, text(gone)) == (True, "agent 'worker' does not exist")
            return listed, core.text, org.text, str(lacking.value)

    worker = sample.agents.retrieve("worker")
    compiled = sample.agents.memory("worker").compile()
    listed, core, org, lacking = anyio.run(run)
    assert [r.uri for r in listed] == [CORE] + [f"memory://blocks/{b}" for b in worker.block_ids]
    assert [r.name for r in listed[:3]] == ["core", "persona", "organization"]
    assert core == compiled
    assert org == sample.blocks.retrieve("organization").value
    assert lacking == "Memory block `user_preferences` is not attached to agent `worker`."


@pytest.mark.slow
def test_subscribers_hear_of_changes_to_their_blocks_only(sample: gitmem.Client) -> None:
    """Handshake era (today's MCP clients): resources/subscribe, then notifications."""
    told: list[str] = []
    more = anyio.Event()

    async def handler(message: IncomingMessage) -> None:
        nonlocal more
        if isinstance(message, types.ResourceUpdatedNotification):
            told.append(message.params.uri)
        elif isinstance(message, types.ResourceListChangedNotification):
            told.append("list changed")
        more.set()
        more = anyio.Event()

    async def until(count: int) -> list[str]:
        with anyio.fail_after(WAIT):
            while len(told) < count:
                await more.wait()
        return told

    async def run() -> None:
        async with connect(sample.path, legacy=True, handler=handler) as client:
            with warnings.catch_warnings():  # resources/subscribe is gone from 2026-07-28 on
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                for uri in (CORE, ORG, PREFS):
                    await client.subscribe_resource(uri)
            # The worker lacks user_preferences: nothing. Then organization: told.
            await gitmem_cli(sample.path, "memory", "insert", "supervisor", "user_preferences", "x")
            await gitmem_cli(sample.path, "memory", "insert", "supervisor", "organization", "y")
            assert await until(2) == [ORG, CORE]
            # A person saving the file in an editor is told too (the server commits it).
            org = sample.path / "blocks" / "organization.md"
            org.write_text(org.read_text() + "Saved by a person.\n")
            assert await until(4) == [ORG, CORE, ORG, CORE]
            # Attached: now the worker has it.
            await gitmem_cli(sample.path, "agents", "attach", "worker", "user_preferences")
            assert (await until(7))[4:] == [PREFS, CORE, "list changed"]

    anyio.run(run)
    assert sample.blocks.retrieve("organization").value.endswith("\ny\nSaved by a person.")
    assert_clean(sample.path)


@pytest.mark.slow
def test_listeners_hear_of_changes_and_of_attachments(sample: gitmem.Client) -> None:
    """2026-07-28 era: a subscriptions/listen stream."""

    async def run() -> list[ServerEvent]:
        seen: list[ServerEvent] = []
        async with connect(sample.path) as client:
            async with client.listen(
                resource_subscriptions=[ORG, PREFS], resources_list_changed=True
            ) as events:
                await gitmem_cli(
                    sample.path, "memory", "insert", "supervisor", "user_preferences", "x"
                )
                await gitmem_cli(sample.path, "blocks", "update", "organization", "--value", "z")
                await gitmem_cli(sample.path, "agents", "attach", "worker", "user_preferences")
                with anyio.fail_after(WAIT):
                    async for event in events:
                        seen.append(event)
                        if event == ResourcesListChanged():
                            break
            listed = (await client.list_resources()).resources
            assert PREFS in [r.uri for r in listed]
        return seen

    # The first change was to a block the worker lacked, so the update of
    # organization came first; attaching user_preferences changed the list.
    assert anyio.run(run) == [ResourceUpdated(ORG), ResourceUpdated(PREFS), ResourcesListChanged()]


@pytest.mark.slow
def test_two_servers_inserting_into_one_block_lose_nothing(sample: gitmem.Client) -> None:
    per_agent = 15
    before = head(sample.path)

    async def inserts(agent: str) -> None:
        async with connect(sample.path, agent) as client:
            for n in range(per_agent):
                args = {"label": "organization", "new_string": f"{agent} {n}"}
                result = await client.call_tool("memory_insert", args)
                assert not result.is_error, text(result)

    async def run() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(inserts, "worker")
            tasks.start_soon(inserts, "supervisor")

    anyio.run(run)
    lines = sample.blocks.retrieve("organization").value.split("\n")[3:]
    for agent in ("worker", "supervisor"):
        assert [line for line in lines if line.startswith(agent)] == [
            f"{agent} {n}" for n in range(per_agent)
        ]
    authors = git(sample.path, "log", "--format=%an", f"{before}..HEAD").split()
    assert sorted(authors) == ["supervisor"] * per_agent + ["worker"] * per_agent
    assert_clean(sample.path)


@pytest.mark.slow
def test_a_server_keeps_serving_while_head_is_detached(sample: gitmem.Client) -> None:
    old = head(sample.path)
    sample.agents.memory("worker").memory_insert("task_queue", "[todo] T-2")
    errlog = sample.path.parent / "mcp.err"
    note = (
        f"gitmem mcp: HEAD detached at {old[:7]}; agents write to main; "
        "files saved meanwhile are left to you, not committed\n"
    )

    async def run() -> tuple[types.CallToolResult, list[ServerEvent]]:
        seen: list[ServerEvent] = []
        async with (
            connect(sample.path, errlog=errlog, said=note) as client,
            client.listen(resource_subscriptions=[ORG]) as events,
        ):
            git(sample.path, "checkout", "-q", old)
            with anyio.fail_after(WAIT):
                while errlog.read_text() != note:  # the server's watcher saw it
                    await anyio.sleep(0.01)
            args = {"label": "organization", "new_string": "Inserted while detached."}
            result = await client.call_tool("memory_insert", args)
            with anyio.fail_after(WAIT):
                async for event in events:
                    seen.append(event)
                    break
        return result, seen

    result, seen = anyio.run(run)

    assert (text(result), seen) == (EDITED.format(label="organization"), [ResourceUpdated(ORG)])
    assert head(sample.path) == old
    git(sample.path, "checkout", "-q", "main")
    assert sample.blocks.retrieve("organization").value.endswith("\nInserted while detached.")
    assert_clean(sample.path)


@pytest.mark.slow
def test_stdout_carries_nothing_but_the_protocol(sample: gitmem.Client) -> None:
    # No client: stdin closes at once. The server says nothing and stops.
    done = subprocess.run(
        [sys.executable, "-m", "gitmem", "mcp", "--agent", "worker", "-C", str(sample.path)],
        input="",
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_without_the_sdk_one_line_says_what_to_install(
    sample: gitmem.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # import mcp fails, as if not installed
    monkeypatch.delitem(sys.modules, "gitmem.mcp.server", raising=False)
    result = CliRunner().invoke(main, ["-C", str(sample.path), "mcp", "--agent", "worker"])
    assert (result.exit_code, result.stderr) == (1, f"Error: {INSTALL}\n")
