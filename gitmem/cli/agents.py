"""``gitmem agents ...``."""

from __future__ import annotations

import click

from gitmem.cli.base import (
    block_line,
    client_of,
    json_option,
    main,
    output,
)


@main.group()
def agents() -> None:
    """Create and delete agents; attach blocks to them."""


@agents.command("create")
@click.argument("name", required=False)
@click.option("--description", help="What the agent does.")
@click.option("--model", help="The model name (stored, never called).")
@click.option("--block", "block_ids", multiple=True, help="Attach this block (repeatable).")
@click.option(
    "--memory-block",
    "inline",
    multiple=True,
    metavar="LABEL=VALUE",
    help="Create a block <agent>/<label> for the agent (repeatable).",
)
@json_option
@click.pass_context
def agents_create(
    ctx: click.Context,
    name: str | None,
    description: str | None,
    model: str | None,
    block_ids: tuple[str, ...],
    inline: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create an agent (a name is generated when none is given).

    \b
    Example:
      gitmem agents create worker --memory-block "persona=I am a worker" --block organization
    """
    specs = []
    for item in inline:
        label, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not LABEL=VALUE", param_hint="--memory-block")
        specs.append({"label": label, "value": value})
    agent = client_of(ctx).agents.create(
        name=name,
        description=description,
        model=model,
        memory_blocks=specs,
        block_ids=block_ids,
    )
    output(agent, as_json, lambda a: a.id)


@agents.command("list")
@json_option
@click.pass_context
def agents_list(ctx: click.Context, as_json: bool) -> None:
    """List agents and their blocks.

    \b
    Example:
      gitmem agents list --json
    """
    output(client_of(ctx).agents.list(), as_json, lambda a: f"{a.id}\t{', '.join(a.block_ids)}")


@agents.command("show")
@click.argument("agent_id")
@json_option
@click.pass_context
def agents_show(ctx: click.Context, agent_id: str, as_json: bool) -> None:
    """Print an agent's manifest.

    \b
    Example:
      gitmem agents show worker
    """
    from gitmem.model.manifest import dump

    agent = client_of(ctx).agents.retrieve(agent_id)
    output(agent, as_json, lambda a: dump(a).decode())


@agents.command("delete")
@click.argument("agent_id")
@click.option("--delete-blocks", is_flag=True, help="Also delete its own <agent>/... blocks.")
@click.pass_context
def agents_delete(ctx: click.Context, agent_id: str, delete_blocks: bool) -> None:
    """Delete an agent (its blocks stay unless --delete-blocks).

    \b
    Example:
      gitmem agents delete worker --delete-blocks
    """
    client_of(ctx).agents.delete(agent_id, delete_blocks=delete_blocks)


@agents.command("attach")
@click.argument("agent_id")
@click.argument("block_id")
@click.pass_context
def agents_attach(ctx: click.Context, agent_id: str, block_id: str) -> None:
    """Attach a block to an agent (nothing happens if it already is).

    \b
    Example:
      gitmem agents attach worker organization
    """
    client_of(ctx).agents.blocks.attach(block_id, agent_id=agent_id)


@agents.command("detach")
@click.argument("agent_id")
@click.argument("block_id")
@click.pass_context
def agents_detach(ctx: click.Context, agent_id: str, block_id: str) -> None:
    """Detach a block from an agent (nothing happens if it is not attached).

    \b
    Example:
      gitmem agents detach worker organization
    """
    client_of(ctx).agents.blocks.detach(block_id, agent_id=agent_id)


@agents.command("blocks")
@click.argument("agent_id")
@json_option
@click.pass_context
def agents_blocks(ctx: click.Context, agent_id: str, as_json: bool) -> None:
    """List the blocks attached to an agent, in order.

    \b
    Example:
      gitmem agents blocks worker
    """
    output(client_of(ctx).agents.blocks.list(agent_id), as_json, block_line)


@agents.command("render")
@click.argument("agent_id")
@click.pass_context
def agents_render(ctx: click.Context, agent_id: str) -> None:
    """Print the agent's core memory as it goes into a prompt (Letta's format).

    \b
    Example:
      gitmem agents render worker
    """
    click.echo(client_of(ctx).agents.memory(agent_id).compile())
