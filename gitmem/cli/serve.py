"""``gitmem serve`` and ``gitmem tokens``: the store over HTTP, and who may use it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitmem.cli.base import client_of, json_option, main, output, store_option

if TYPE_CHECKING:
    from gitmem import Token

INSTALL = "gitmem serve needs Starlette and uvicorn, an optional extra: pip install 'gitmem[serve]'"


@main.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    default=8283,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port to listen on.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="What the server logs (each request at info; never a token).",
)
@click.pass_context
def serve(ctx: click.Context, path: Path | None, host: str, port: int, log_level: str) -> None:
    """Serve the store over HTTP with Letta's REST API.

    Agents on other machines share the store through it: Letta's own client
    works with only base_url and api_key changed. Each write is one commit (by
    the agent, for memory tools), as locally. With tokens (gitmem tokens
    create), every request needs one: an agent's token acts only as that agent.
    Without tokens it listens on loopback only. Not built yet: MCP over HTTP
    (/mcp), live events (/v1/events); they answer 501.

    \b
    Example:
      gitmem tokens create --agent worker
      gitmem serve -C ~/mem --host 0.0.0.0 --port 8283
      # then, anywhere: Letta(base_url="http://HOST:8283", api_key=TOKEN)
    """
    if path is not None:
        ctx.find_root().obj["path"] = path
    client = client_of(ctx)
    for module in ("starlette", "uvicorn"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            raise click.ClickException(INSTALL) from None
    from gitmem.serve.run import serve as run

    run(client, host, port, log_level=log_level)


@main.group()
def tokens() -> None:
    """Make, list and revoke tokens for 'gitmem serve'.

    A token says who may call the server, and as which agent. Tokens are kept
    hashed under .git/gitmem/ (never committed); a token is shown only when made.

    \b
    Example:
      gitmem tokens create --agent worker
      gitmem tokens list
      gitmem tokens revoke 3f9a2c1b
    """


@tokens.command("create")
@click.option("--agent", "agent_id", metavar="AGENT", help="Act as this agent, and only it.")
@click.option("--admin", is_flag=True, help="Do everything (for people and tools).")
@click.pass_context
def create(ctx: click.Context, agent_id: str | None, admin: bool) -> None:
    """Make a token and print it (only now: the store keeps its hash). An
    agent's token reads the blocks attached to AGENT and changes them through
    AGENT's memory tools, never a read-only block or another agent; an admin
    token does everything the local API does.

    \b
    Example:
      gitmem tokens create --agent worker
    """
    if admin == (agent_id is not None):
        raise click.UsageError("give --agent AGENT or --admin")
    token, secret = client_of(ctx).tokens.create(agent=agent_id)
    click.echo(secret)
    click.echo(f"token {token.id} ({token.scope}); it is not shown again: keep it secret", err=True)


@tokens.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the tokens (id, scope, when made), never their secrets.

    \b
    Example:
      gitmem tokens list
    """
    output(client_of(ctx).tokens.list(), as_json, _line)


@tokens.command()
@click.argument("token_id", metavar="ID")
@click.pass_context
def revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke the token ID (from 'gitmem tokens list'); a running server refuses
    it from its next request on.

    \b
    Example:
      gitmem tokens revoke 3f9a2c1b
    """
    token = client_of(ctx).tokens.revoke(token_id)
    click.echo(f"revoked token {token.id} ({token.scope})")


def _line(token: Token) -> str:
    return f"{token.id}\t{token.scope}\t{token.created}"
