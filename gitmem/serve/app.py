"""The HTTP server: Letta's REST routes over one gitmem store (a Starlette app).

Every request goes through ``gitmem.Client``, on one worker thread, in the
order requests arrive: each write is one commit (by the agent, for memory
tools), and the store stays an ordinary Git repository that people and other
processes use meanwhile. Input is checked before the worker sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gitmem.client import Client
from gitmem.errors import (
    ConflictError,
    CorruptError,
    GitmemError,
    NotFoundError,
    ReadOnlyError,
    UnsupportedError,
    ValidationError,
)
from gitmem.model.block import UNSET, Block, Unset
from gitmem.ops.tokens import Token
from gitmem.serve import reading, schema, scope, tools, wire
from gitmem.serve.schema import Json

T = TypeVar("T")
NO_RETRY = {"x-should-retry": "false"}  # Letta's client retries 409 and 5xx unless told not to


class Exists(ConflictError):
    """A block or agent with that id is there already (HTTP 409)."""


class NotBuilt(GitmemError):
    """A route gitmem serve does not have (HTTP 501): it says what to use instead."""


_STATUS: list[tuple[type[GitmemError], int]] = [
    (scope.Unauthorized, 401),
    (scope.Forbidden, 403),
    (ReadOnlyError, 403),
    (NotFoundError, 404),
    (reading.TooSlow, 408),
    (ConflictError, 409),
    (reading.TooLarge, 413),
    (schema.Invalid, 422),
    (CorruptError, 500),
    (UnsupportedError, 500),
    (NotBuilt, 501),
]


def status_of(error: GitmemError) -> int:
    """Letta's status for the error; anything else a caller got wrong is 400 (a ValueError)."""
    return next((code for kind, code in _STATUS if isinstance(error, kind)), 400)


class Server:
    """The routes, over one client."""

    def __init__(self, client: Client, *, anonymous: bool) -> None:
        self._client = client
        self._tokens = client.tokens
        self._anonymous = anonymous
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="gitmem-store")

    # -- plumbing ----------------------------------------------------------

    async def _run(self, work: Callable[[Client], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, work, self._client)

    def _who(self, request: Request) -> Token:
        authorization = request.headers.get("authorization", "")
        return scope.caller(self._tokens, authorization, anonymous=self._anonymous)

    # -- blocks ------------------------------------------------------------

    async def list_blocks(self, request: Request) -> Response:
        who = self._who(request)
        query = request.query_params
        page = schema.page(query)
        if query.get("name"):
            raise ValidationError("gitmem has no block templates to filter by name")
        label = query.get("label") or None

        def work(c: Client) -> list[Json]:
            if who.agent is None:
                blocks = c.blocks.list(label=label)
            else:
                blocks = [b for b in c.agents.blocks.list(who.agent) if label in (None, b.label)]
            return [wire.block(b) for b in wire.paged(blocks, lambda b: b.id, page)]

        return JSONResponse(await self._run(work))

    async def create_block(self, request: Request) -> Response:
        who = self._who(request)
        scope.admin_only(who, "create blocks")
        given = schema.block_create(await reading.body(request))

        def work(c: Client) -> Json:
            block_id = given.get("id")
            _refuse_existing("block", block_id, c.blocks.retrieve)
            return wire.block(
                c.blocks.create(
                    label=given["label"],
                    value=given["value"],
                    description=given.get("description"),
                    limit=given.get("limit"),
                    read_only=given.get("read_only", False),
                    metadata=given.get("metadata"),
                    id=block_id,
                )
            )

        return JSONResponse(await self._run(work))

    async def retrieve_block(self, request: Request) -> Response:
        who = self._who(request)
        [block_id] = reading.params(request, "block_id")

        def work(c: Client) -> Json:
            scope.readable(c, who, block_id)
            return wire.block(c.blocks.retrieve(block_id))

        return JSONResponse(await self._run(work))

    async def update_block(self, request: Request) -> Response:
        who = self._who(request)
        scope.admin_only(who, "change blocks (an agent changes its own with its memory tools)")
        [block_id] = reading.params(request, "block_id")
        given = schema.block_update(await reading.body(request))

        def work(c: Client) -> Json:
            return wire.block(_update(c, block_id, given))

        return JSONResponse(await self._run(work))

    async def delete_block(self, request: Request) -> Response:
        who = self._who(request)
        scope.admin_only(who, "delete blocks")
        [block_id] = reading.params(request, "block_id")
        force = request.query_params.get("force") == "true"  # gitmem: detach everywhere first

        def work(c: Client) -> Json:
            c.blocks.delete(block_id, force=force)
            return {"message": f"Block id={block_id} successfully deleted"}

        return JSONResponse(await self._run(work))

    async def block_agents(self, request: Request) -> Response:
        who = self._who(request)
        scope.admin_only(who, "list the agents a block is attached to")
        [block_id] = reading.params(request, "block_id")
        page = schema.page(request.query_params)

        def work(c: Client) -> list[Json]:
            agents = wire.paged(c.blocks.agents.list(block_id), lambda a: a.id, page)
            return [wire.agent(a, c.agents.blocks.list(a.id)) for a in agents]

        return JSONResponse(await self._run(work))

    # -- agents ------------------------------------------------------------

    async def list_agents(self, request: Request) -> Response:
        who = self._who(request)
        page = schema.page(request.query_params)
        name = request.query_params.get("name") or None

        def work(c: Client) -> list[Json]:
            agents = c.agents.list() if who.agent is None else [c.agents.retrieve(who.agent)]
            agents = [a for a in agents if name in (None, a.name)]
            return [
                wire.agent(a, c.agents.blocks.list(a.id))
                for a in wire.paged(agents, lambda a: a.id, page)
            ]

        return JSONResponse(await self._run(work))

    async def create_agent(self, request: Request) -> Response:
        who = self._who(request)
        scope.admin_only(who, "create agents")
        given = schema.agent_create(await reading.body(request))

        def work(c: Client) -> Json:
            name = given.get("name")
            _refuse_existing("agent", name, c.agents.retrieve)
            inline = [
                {k: v for k, v in spec.items() if v is not None}
                for spec in given.get("memory_blocks") or []
            ]
            agent = c.agents.create(
                name=name,
                description=given.get("description"),
                model=given.get("model"),
                memory_blocks=inline,
                block_ids=given.get("block_ids") or (),
                metadata=given.get("metadata"),
            )
            return wire.agent(agent, c.agents.blocks.list(agent.id))

        return JSONResponse(await self._run(work))

    async def retrieve_agent(self, request: Request) -> Response:
        who = self._who(request)
        [agent_id] = reading.params(request, "agent_id")
        scope.acting_as(who, agent_id)

        def work(c: Client) -> Json:
            return wire.agent(c.agents.retrieve(agent_id), c.agents.blocks.list(agent_id))

        return JSONResponse(await self._run(work))

    async def update_agent(self, request: Request) -> Response:
        self._who(request)
        raise NotBuilt(
            "agents.update is not built yet (gitmem issue 16); meanwhile attach and detach "
            "blocks with agents.blocks.attach/detach"
        )

    async def delete_agent(self, request: Request) -> Response:
        who = self._who(request)
        scope.admin_only(who, "delete agents")
        [agent_id] = reading.params(request, "agent_id")

        def work(c: Client) -> Json:
            c.agents.delete(agent_id)
            return {"message": f"Agent id={agent_id} successfully deleted"}

        return JSONResponse(await self._run(work))

    async def agent_blocks(self, request: Request) -> Response:
        who = self._who(request)
        [agent_id] = reading.params(request, "agent_id")
        scope.acting_as(who, agent_id)
        page = schema.page(request.query_params)

        def work(c: Client) -> list[Json]:
            blocks = wire.paged(c.agents.blocks.list(agent_id), lambda b: b.id, page)
            return [wire.block(b) for b in blocks]

        return JSONResponse(await self._run(work))

    async def agent_block(self, request: Request) -> Response:
        who = self._who(request)
        agent_id, label = reading.params(request, "agent_id", "block_label")
        scope.acting_as(who, agent_id)

        def work(c: Client) -> Json:
            return wire.block(c.agents.blocks.retrieve(label, agent_id=agent_id))

        return JSONResponse(await self._run(work))

    async def update_agent_block(self, request: Request) -> Response:
        """Letta's update by label. An agent's token may change only the value,
        as the agent (a ``memory_rethink``, refused on a read-only block)."""
        who = self._who(request)
        agent_id, label = reading.params(request, "agent_id", "block_label")
        scope.acting_as(who, agent_id)
        given = schema.block_update(await reading.body(request))
        if who.agent is not None and set(given) - {"value", "if_version"}:
            fields = ", ".join(sorted(set(given) - {"value", "if_version"}))
            raise scope.Forbidden(
                f"an agent's token changes only the value of its blocks, not {fields}; "
                "that needs an admin token"
            )

        def work(c: Client) -> Json:
            block = c.agents.blocks.retrieve(label, agent_id=agent_id)
            if who.agent is None:
                return wire.block(_update(c, block.id, given))
            value = given.get("value")
            if value is not None:
                memory = c.agents.memory(agent_id)
                memory.memory_rethink(label, value, if_version=given.get("if_version"))
            return wire.block(c.agents.blocks.retrieve(label, agent_id=agent_id))

        return JSONResponse(await self._run(work))

    async def attach(self, request: Request) -> Response:
        return await self._attachment(request, attach=True)

    async def detach(self, request: Request) -> Response:
        return await self._attachment(request, attach=False)

    async def _attachment(self, request: Request, *, attach: bool) -> Response:
        who = self._who(request)
        scope.admin_only(who, f"{'attach' if attach else 'detach'} blocks")
        agent_id, block_id = reading.params(request, "agent_id", "block_id")

        def work(c: Client) -> Json:
            change = c.agents.blocks.attach if attach else c.agents.blocks.detach
            agent = change(block_id, agent_id=agent_id)
            return wire.agent(agent, c.agents.blocks.list(agent_id))

        return JSONResponse(await self._run(work))

    async def run_tool(self, request: Request) -> Response:
        who = self._who(request)
        agent_id, tool_name = reading.params(request, "agent_id", "tool_name")
        scope.acting_as(who, agent_id)
        args = schema.tool_args(await reading.body(request))
        if tool_name not in tools.TOOLS:
            raise tools.unknown(tool_name, agent_id)

        def work(c: Client) -> Json:
            return tools.run(c.agents.memory(agent_id), tool_name, args)

        return JSONResponse(await self._run(work))

    async def recompile(self, request: Request) -> Response:
        """The agent's core memory as its prompt shows it (plain text: Letta's
        client returns the response's text as it is)."""
        who = self._who(request)
        [agent_id] = reading.params(request, "agent_id")
        scope.acting_as(who, agent_id)

        def work(c: Client) -> str:
            return c.agents.memory(agent_id).compile()

        return PlainTextResponse(await self._run(work))

    # -- the rest ----------------------------------------------------------

    async def health(self, request: Request) -> Response:
        from importlib.metadata import version

        return JSONResponse({"status": "ok", "version": version("gitmem")})

    async def not_built(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/mcp"):
            raise NotBuilt(
                "MCP over HTTP is not built yet (gitmem issue 14); meanwhile run "
                "'gitmem mcp --agent AGENT' beside a clone of the store (MCP over stdio)"
            )
        if path.startswith("/v1/events"):
            raise NotBuilt(
                "live events over HTTP are not built yet (gitmem issue 14); meanwhile run "
                "'gitmem watch --json' beside a clone of the store"
            )
        raise NotBuilt(
            f"gitmem serve does not implement {request.method} {path}: it serves Letta's "
            "memory routes (blocks, agents, their core memory, the memory tools); "
            "gitmem stores memory and runs no model"
        )

    def routes(self) -> list[Route]:
        agent = "/v1/agents/{agent_id}"
        core = f"{agent}/core-memory/blocks"
        table: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
            ("GET", "/v1/health/", self.health),
            ("GET", "/v1/blocks/", self.list_blocks),
            ("POST", "/v1/blocks/", self.create_block),
            ("GET", "/v1/blocks/{block_id}", self.retrieve_block),
            ("PATCH", "/v1/blocks/{block_id}", self.update_block),
            ("DELETE", "/v1/blocks/{block_id}", self.delete_block),
            ("GET", "/v1/blocks/{block_id}/agents", self.block_agents),
            ("GET", "/v1/agents/", self.list_agents),
            ("POST", "/v1/agents/", self.create_agent),
            ("GET", agent, self.retrieve_agent),
            ("PATCH", agent, self.update_agent),
            ("DELETE", agent, self.delete_agent),
            ("GET", core, self.agent_blocks),
            ("GET", f"{core}/{{block_label}}", self.agent_block),
            ("PATCH", f"{core}/{{block_label}}", self.update_agent_block),
            ("PATCH", f"{core}/attach/{{block_id}}", self.attach),
            ("PATCH", f"{core}/detach/{{block_id}}", self.detach),
            ("POST", f"{agent}/tools/{{tool_name}}/run", self.run_tool),
            ("POST", f"{agent}/recompile", self.recompile),
        ]
        routes = []
        for method, path, endpoint in table:
            routes.append(Route(path, endpoint, methods=[method]))
            if path.endswith("/") and len(path) > 1:  # Letta answers both spellings
                routes.append(Route(path.rstrip("/"), endpoint, methods=[method]))
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        for path in ("/mcp", "/mcp/{rest:path}", "/v1/{rest:path}"):
            routes.append(Route(path, self.not_built, methods=methods))
        return routes

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        self._worker.shutdown(wait=True)


def create_app(client: Client, *, anonymous: bool) -> ASGIApp:
    """The server's ASGI app over ``client``; ``anonymous``: a caller without a
    token is let in as admin while the store has no tokens (loopback only)."""
    server = Server(client, anonymous=anonymous)

    async def refuse(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GitmemError)
        code = status_of(exc)
        detail: object = exc.errors if isinstance(exc, schema.Invalid) else str(exc)
        headers = dict(NO_RETRY)
        if code == 401:
            headers["www-authenticate"] = "Bearer"
        return JSONResponse({"detail": detail}, code, headers=headers)

    async def crash(request: Request, exc: Exception) -> Response:
        summary = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        return JSONResponse({"detail": summary}, 500, headers=NO_RETRY)

    app = Starlette(
        routes=server.routes(),
        exception_handlers={GitmemError: refuse, Exception: crash},
        lifespan=server.lifespan,
    )
    return reading.RawPath(app)


def _refuse_existing(kind: str, given: str | None, retrieve: Callable[[str], object]) -> None:
    """Exists (409, as Letta answers a duplicate) if the id asked for is taken."""
    if given is None:
        return
    try:
        retrieve(given)
    except NotFoundError:
        return
    raise Exists(f"{kind} {given!r} already exists")


def _update(c: Client, block_id: str, given: schema.BlockUpdate) -> Block:
    """``blocks.update`` with the fields given; a null limit, label or value means unchanged."""
    return c.blocks.update(
        block_id,
        value=_kept(given.get("value", UNSET)),
        description=given.get("description", UNSET),
        limit=_kept(given.get("limit", UNSET)),
        read_only=given.get("read_only", UNSET),
        label=_kept(given.get("label", UNSET)),
        metadata=given.get("metadata", UNSET),
        if_version=given.get("if_version"),
    )


def _kept(value: T | Unset | None) -> T | Unset:
    return UNSET if value is None else value
