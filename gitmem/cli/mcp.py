"""``gitmem mcp``: serve an agent's memory to any MCP client over stdio."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from gitmem.cli.base import client_of, main, store_option

INSTALL = "gitmem mcp needs the MCP SDK, an optional extra: pip install 'gitmem[mcp]'"


@main.command()
@click.option("--agent", "agent_id", required=True, metavar="AGENT", help="The agent served.")
@store_option
@click.pass_context
def mcp(ctx: click.Context, agent_id: str, path: Path | None) -> None:
    """Serve an agent's memory over MCP on stdin/stdout.

    Serves AGENT's memory over the Model Context Protocol: tools memory_view,
    memory_insert, memory_replace and memory_rethink (each change one commit by
    AGENT), resources memory://core and memory://blocks/<block-id>, and
    notifications when another agent, a person or a pull changes one of AGENT's
    blocks. An MCP client runs it; files saved in the store meanwhile are committed,
    as 'gitmem watch' does.

    \b
    Example: the command to configure in an MCP client
      gitmem mcp --agent worker -C /path/to/mem
    """
    if path is not None:
        ctx.find_root().obj["path"] = path
    client = client_of(ctx)
    client.agents.memory(agent_id)  # an unknown agent is refused before anything starts
    try:
        importlib.import_module("mcp")  # the optional extra
    except ModuleNotFoundError as e:
        if e.name != "mcp":
            raise
        raise click.ClickException(INSTALL) from None
    from gitmem.mcp import server as mcp_server

    mcp_server.serve(client, agent_id)
