"""``gitmem init`` and ``gitmem demo``."""

from __future__ import annotations

from pathlib import Path

import click

from gitmem.cli.base import (
    main,
)


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--sample", is_flag=True, help="Fill the store with the sample memory.")
@click.pass_context
def init(ctx: click.Context, directory: Path | None, sample: bool) -> None:
    """Make a new store in DIRECTORY (default: the current one).

    \b
    Example:
      gitmem init --sample mem
    """
    from gitmem.client import Client

    target = ctx.obj["path"] / (directory or Path("."))
    with Client.init(target, sample=sample) as client:
        click.echo(f"Initialised gitmem store in {client.path}")


@main.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the demo store here and keep it (default: a temporary directory).",
)
def demo(keep: Path | None) -> None:
    """Play the supervisor/worker story on the sample memory.

    The store is made from the sample memory in a temporary directory, or in
    the one given with --keep.

    \b
    Example:
      gitmem demo --keep /tmp/demo-store
    """
    from gitmem.cli.demo import run

    run(click.echo, keep)
