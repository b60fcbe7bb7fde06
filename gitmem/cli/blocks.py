"""``gitmem blocks ...``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from gitmem.cli.base import (
    block_line,
    client_of,
    if_version_option,
    json_option,
    main,
    output,
    read_value,
    value_options,
)

if TYPE_CHECKING:
    from gitmem.model.block import Unset

T = TypeVar("T")


@main.group()
def blocks() -> None:
    """Create, read, change and delete blocks; their history."""


@blocks.command("create")
@click.option("--label", required=True, help="What agents call the block.")
@value_options
@click.option("--description", help="What the block is for.")
@click.option("--limit", type=click.IntRange(min=1), help="Maximum characters in the value.")
@click.option("--read-only", is_flag=True, help="Memory tools may not change the block.")
@click.option("--id", "block_id", help="The block id (default: made from the label).")
@json_option
@click.pass_context
def blocks_create(
    ctx: click.Context,
    label: str,
    value: str | None,
    value_file: Path | None,
    description: str | None,
    limit: int | None,
    read_only: bool,
    block_id: str | None,
    as_json: bool,
) -> None:
    """Create a block.

    \b
    Example:
      gitmem blocks create --label organization --value "Acme builds robots."
    """
    block = client_of(ctx).blocks.create(
        label=label,
        value=read_value(value, value_file) or "",
        description=description,
        limit=limit,
        read_only=read_only,
        id=block_id,
    )
    output(block, as_json, lambda b: b.id)


@blocks.command("list")
@click.option("--label", help="Only blocks with this label.")
@json_option
@click.pass_context
def blocks_list(ctx: click.Context, label: str | None, as_json: bool) -> None:
    """List blocks: id, label, characters/limit.

    \b
    Example:
      gitmem blocks list --label persona
    """
    output(client_of(ctx).blocks.list(label=label), as_json, block_line)


@blocks.command("show")
@click.argument("block_id")
@click.option("--at", metavar="REV", help="As of a commit-ish (HEAD~2, a hash) or a date.")
@json_option
@click.pass_context
def blocks_show(ctx: click.Context, block_id: str, at: str | None, as_json: bool) -> None:
    """Print a block as its file reads (or all its fields with --json).

    \b
    Example:
      gitmem blocks show organization
      gitmem blocks show organization --at "2 hours ago"
    """
    from gitmem.model.block import dump

    block = client_of(ctx).blocks.retrieve(block_id, at=at)
    output(block, as_json, lambda b: dump(b).decode())


@blocks.command("update")
@click.argument("block_id")
@value_options
@click.option("--description", help="New description.")
@click.option("--limit", type=click.IntRange(min=1), help="New character limit.")
@click.option(
    "--read-only/--writable",
    "read_only",
    default=None,
    help="Whether memory tools may change the block.",
)
@click.option("--label", help="New label.")
@if_version_option
@json_option
@click.pass_context
def blocks_update(
    ctx: click.Context,
    block_id: str,
    value: str | None,
    value_file: Path | None,
    description: str | None,
    limit: int | None,
    read_only: bool | None,
    label: str | None,
    if_version: str | None,
    as_json: bool,
) -> None:
    """Change a block's value or settings.

    \b
    Example:
      gitmem blocks update organization --value-file org.txt --if-version 3f2a...
    """
    block = client_of(ctx).blocks.update(
        block_id,
        if_version=if_version,
        value=_given(read_value(value, value_file)),
        description=_given(description),
        limit=_given(limit),
        read_only=_given(read_only),
        label=_given(label),
    )
    output(block, as_json, lambda b: f"{b.id} {b.version}")


def _given(option: T | None) -> T | Unset:
    """An option left out (None) leaves its field as it is."""
    from gitmem.model.block import UNSET

    return UNSET if option is None else option


@blocks.command("delete")
@click.argument("block_id")
@click.option("--force", is_flag=True, help="Detach it from every agent and delete it.")
@click.pass_context
def blocks_delete(ctx: click.Context, block_id: str, force: bool) -> None:
    """Delete a block (refused while attached, unless --force).

    \b
    Example:
      gitmem blocks delete old-notes --force
    """
    client_of(ctx).blocks.delete(block_id, force=force)


@blocks.command("agents")
@click.argument("block_id")
@json_option
@click.pass_context
def blocks_agents(ctx: click.Context, block_id: str, as_json: bool) -> None:
    """List the agents a block is attached to.

    \b
    Example:
      gitmem blocks agents organization
    """
    found = client_of(ctx).blocks.agents.list(block_id)
    output(found, as_json, lambda a: a.id)
