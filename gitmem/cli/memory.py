"""``gitmem memory ...``: an agent's memory tools from the shell."""

from __future__ import annotations

import click

from gitmem.cli.base import (
    client_of,
    if_version_option,
    main,
    read_text,
)


@main.group()
def memory() -> None:
    """Run an agent's memory tools: insert, replace, rethink.

    Each change is one commit by the agent.
    """


def _text(text: str) -> str:
    return read_text(None) if text == "-" else text


@memory.command("insert")
@click.argument("agent_id")
@click.argument("label")
@click.argument("text")
@click.option(
    "--line",
    "insert_line",
    type=int,
    default=-1,
    show_default=True,
    help="Insert after this line (0: at the top, -1: at the end).",
)
@if_version_option
@click.pass_context
def memory_insert(
    ctx: click.Context,
    agent_id: str,
    label: str,
    text: str,
    insert_line: int,
    if_version: str | None,
) -> None:
    """Insert TEXT ('-': stdin) as lines into the agent's block LABEL.

    \b
    Example:
      gitmem memory insert worker task_queue "[done] T-2: call the customer"
    """
    mem = client_of(ctx).agents.memory(agent_id)
    click.echo(mem.memory_insert(label, _text(text), insert_line, if_version=if_version))


@memory.command("replace")
@click.argument("agent_id")
@click.argument("label")
@click.argument("old")
@click.argument("new")
@if_version_option
@click.pass_context
def memory_replace(
    ctx: click.Context, agent_id: str, label: str, old: str, new: str, if_version: str | None
) -> None:
    """Replace the one occurrence of OLD with NEW in the agent's block LABEL.

    \b
    Example:
      gitmem memory replace worker task_queue "[todo] T-2" "[done] T-2"
    """
    mem = client_of(ctx).agents.memory(agent_id)
    click.echo(mem.memory_replace(label, old, new, if_version=if_version))


@memory.command("rethink")
@click.argument("agent_id")
@click.argument("label")
@click.argument("text")
@if_version_option
@click.pass_context
def memory_rethink(
    ctx: click.Context, agent_id: str, label: str, text: str, if_version: str | None
) -> None:
    """Rewrite the agent's block LABEL with TEXT ('-': stdin).

    \b
    Example:
      echo "I am a careful worker." | gitmem memory rethink worker persona -
    """
    mem = client_of(ctx).agents.memory(agent_id)
    click.echo(mem.memory_rethink(label, _text(text), if_version=if_version))
