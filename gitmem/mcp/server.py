"""``gitmem mcp``: one agent's memory served over the Model Context Protocol (stdio),
on the official ``mcp`` SDK (the optional extra ``gitmem[mcp]``).

- Tools: the agent's memory tools (mcptools.py), each call one commit by the agent;
  a failure comes back as a tool error carrying gitmem's message.
- Resources: ``memory://core`` (the agent's core memory as ``compile()`` renders
  it) and ``memory://blocks/<block-id>`` (the text of each attached block; ids,
  unlike labels, never change, so a subscription outlives a rename).
- Notifications: a watcher on the store (watch.py) tells this server of every
  commit that changes one of the agent's blocks, whoever made it; subscribers
  hear ``notifications/resources/updated`` for that block and for core memory,
  and ``notifications/resources/list_changed`` when a block is attached,
  detached, created or deleted. Clients of the handshake era subscribe with
  ``resources/subscribe``; 2026-07-28 clients with ``subscriptions/listen``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from importlib.metadata import version
from typing import TypeVar

import anyio
import anyio.to_thread
from mcp import types
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
)
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from gitmem.client import Client
from gitmem.errors import GitmemError
from gitmem.mcp import tools as mcptools
from gitmem.ops.events import Event
from gitmem.ops.watch import Watcher

CORE = "memory://core"
BLOCKS = "memory://blocks/"
LIST = "list"  # (in _tell) the list of resources changed
T = TypeVar("T")
Lifespan = dict[str, object]  # what the SDK's default lifespan yields: {}
Context = ServerRequestContext[Lifespan, object]  # object: the request, which we never read

log = logging.getLogger("gitmem.mcp")


def block_uri(block_id: str) -> str:
    return BLOCKS + block_id


def _text(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)


class MemoryServer:
    """The MCP server of agent ``agent_id``'s memory in ``client``'s store."""

    def __init__(self, client: Client, agent_id: str) -> None:
        self._client = client
        self._memory = client.agents.memory(agent_id)  # an unknown agent fails here
        self.agent_id = agent_id
        self._bus = InMemorySubscriptionBus()  # 2026-07-28 listen streams
        self._session: ServerSession | None = None  # a handshake-era client's connection
        self._subscribed: set[str] = set()  # ... and the URIs it subscribed to
        self._commit: str | None = None  # the commit of the last event told ...
        self._said: set[str] = set()  # ... and what was said of it (URIs, LIST)
        self.server: Server[Lifespan] = Server(
            "gitmem",
            version=version("gitmem"),
            title=f"gitmem memory of {agent_id}",
            instructions=(
                f"Your long-term memory as agent `{agent_id}`, kept in the gitmem store at "
                f"{client.path}: labelled blocks of text, some shared with other agents who "
                "may change them at any time. memory_view lists your blocks and shows one "
                "with line numbers; memory_insert, memory_replace and memory_rethink edit a "
                "block by its label. Resource memory://core is all of it as one text."
            ),
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_read_resource=self._read_resource,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_subscriptions_listen=ListenHandler(self._bus),
        )

    async def _run(self, fn: Callable[[], T]) -> T:
        # Git work blocks (the store lock, fsync): off the event loop, so that
        # notifications and other requests go on meanwhile.
        return await anyio.to_thread.run_sync(fn)

    # -- tools ---------------------------------------------------------------

    async def _list_tools(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=t.name,
                    description=t.description,
                    input_schema=t.schema(),
                    annotations=types.ToolAnnotations(
                        read_only_hint=t.read_only,
                        destructive_hint=t.destructive,
                        idempotent_hint=t.idempotent,
                        open_world_hint=False,
                    ),
                )
                for t in mcptools.TOOLS.values()
            ]
        )

    async def _call_tool(
        self, ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            said = await self._run(
                lambda: mcptools.call(self._memory, params.name, params.arguments)
            )
            return _text(said)
        except GitmemError as e:
            return _text(str(e), error=True)
        except OSError as e:
            return _text(f"{e.filename or ''}: {e.strerror}".lstrip(": "), error=True)
        except Exception as e:
            log.exception("%s failed", params.name)
            return _text(f"internal error: {type(e).__name__}: {e}", error=True)

    # -- resources -----------------------------------------------------------

    def _remember(self, ctx: Context) -> None:
        # Handshake-era notifications go on the connection's own channel, which
        # is reached through a request's session; 2026-07-28 ones go on listen
        # streams instead (_bus).
        if ctx.session.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self._session = ctx.session

    async def _list_resources(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        self._remember(ctx)
        try:
            blocks = await self._run(self._memory.blocks)
        except GitmemError as e:  # the agent was deleted meanwhile, say
            raise MCPError(types.INTERNAL_ERROR, str(e)) from None
        core = types.Resource(
            uri=CORE,
            name="core",
            title=f"Core memory of {self.agent_id}",
            description="All of the agent's memory blocks, rendered as for a prompt.",
            mime_type="text/plain",
        )
        return types.ListResourcesResult(
            resources=[core]
            + [
                types.Resource(
                    uri=block_uri(b.id),
                    name=b.label,
                    description=b.description or None,
                    mime_type="text/plain",
                    size=len(b.value.encode()),
                )
                for b in blocks
            ]
        )

    def _read(self, uri: str) -> str:
        if uri == CORE:
            return self._memory.compile()
        if uri.startswith(BLOCKS):
            block_id = uri[len(BLOCKS) :]
            for b in self._memory.blocks():
                if b.id == block_id:
                    return b.value
            raise MCPError(
                types.INVALID_PARAMS,
                f"Memory block `{block_id}` is not attached to agent `{self.agent_id}`.",
                {"uri": uri},
            )
        raise MCPError(
            types.INVALID_PARAMS,
            f"Unknown resource {uri}: gitmem serves {CORE} and {BLOCKS}<block-id>.",
            {"uri": uri},
        )

    async def _read_resource(
        self, ctx: Context, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        self._remember(ctx)
        try:
            text = await self._run(lambda: self._read(str(params.uri)))
        except GitmemError as e:
            raise MCPError(types.INVALID_PARAMS, str(e), {"uri": str(params.uri)}) from None
        contents = types.TextResourceContents(uri=params.uri, text=text, mime_type="text/plain")
        return types.ReadResourceResult(contents=[contents])

    async def _subscribe(
        self, ctx: Context, params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        self._remember(ctx)
        self._subscribed.add(str(params.uri))
        return types.EmptyResult()

    async def _unsubscribe(
        self, ctx: Context, params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self._subscribed.discard(str(params.uri))
        return types.EmptyResult()

    # -- notifications -------------------------------------------------------

    async def _tell(self, event: Event) -> None:
        """Notify subscribers of what ``event`` changed: its block, core memory, and
        the list of resources when a block came or went; each once per commit,
        however many of the agent's blocks the commit changed."""
        if event.commit != self._commit:
            self._commit, self._said = event.commit, set()
        changed = [block_uri(event.block), CORE]
        if event.kind != "updated":
            changed.append(LIST)
        fresh = [c for c in changed if c not in self._said]
        self._said.update(fresh)
        for c in fresh:
            await self._bus.publish(ResourcesListChanged() if c == LIST else ResourceUpdated(c))
        session = self._session
        if session is None:
            return
        for c in fresh:
            if c == LIST:
                await session.send_resource_list_changed()
            elif c in self._subscribed:
                await session.send_resource_updated(c)

    async def _relay(self, watcher: Watcher) -> None:
        while True:
            event = await anyio.to_thread.run_sync(next, watcher, None, abandon_on_cancel=True)
            if event is None:
                return
            try:
                await self._tell(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the client went away

    # -- running -------------------------------------------------------------

    async def serve(self) -> None:
        """Serve over stdin/stdout until the client closes stdin."""
        # Watch first: a commit landing while the client connects is still told.
        with self._client.watch(self.agent_id, report=_say) as watcher:
            async with stdio_server() as (read, write), anyio.create_task_group() as tasks:
                tasks.start_soon(self._relay, watcher)
                options = self.server.create_initialization_options(
                    NotificationOptions(resources_changed=True)
                )
                await self.server.run(read, write, options)
                tasks.cancel_scope.cancel()


def _say(message: str) -> None:
    print(f"gitmem mcp: {message}", file=sys.stderr, flush=True)


def serve(client: Client, agent_id: str) -> None:
    """Run the MCP server of ``agent_id`` over stdio (what ``gitmem mcp`` does)."""
    server = MemoryServer(client, agent_id)
    anyio.run(server.serve)
