"""``gitmem status``, ``gitmem commit`` and ``gitmem edit``: files people change on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitmem.cli.base import client_of, json_option, main, output
from gitmem.errors import ConflictError, ValidationError
from gitmem.model.ids import DIRS
from gitmem.model.rules import GITATTRIBUTES
from gitmem.model.settings import SETTINGS

if TYPE_CHECKING:
    from gitmem.model.merge import Strategy  # what click.Choice lets through


def _store_paths(ctx: click.Context, paths: tuple[str, ...]) -> list[str] | None:
    """PATHs as given (relative to -C or the current directory) as paths in the store."""
    if not paths:
        return None
    root = client_of(ctx).path
    here = Path(ctx.find_root().obj["path"]).absolute()
    found = []
    for given in paths:
        if not given:
            raise click.BadParameter("an empty path names nothing", param_hint="PATH")
        rel = Path(os.path.relpath(os.path.normpath(here / given), root)).as_posix()
        if rel.startswith("../") or rel == "..":
            raise click.BadParameter(f"{given} is outside the store {root}", param_hint="PATH")
        if rel.split("/")[0] not in (".", *DIRS, SETTINGS, GITATTRIBUTES):
            raise click.BadParameter(
                f"{given} is not a block or a manifest (blocks/<id>.md, agents/<id>.yaml)",
                param_hint="PATH",
            )
        found.append(rel)
    return found


@main.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@json_option
@click.pass_context
def status(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """List blocks and manifests changed on disk.

    Each is modified, new or deleted, and 'valid' or the problem that keeps the file
    from being committed. First, if git is not at rest on the store's branch, the
    state it is in (files are not listed while HEAD is elsewhere: they are yours).

    \b
    Example:
      gitmem status
    """
    client = client_of(ctx)
    state = client.git_state().describe()
    if state:
        click.echo(state, err=as_json)
    found = client.status(_store_paths(ctx, paths))
    output(found, as_json, lambda s: f"{s.change}\t{s.path}\t{s.problem or 'valid'}")


@main.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("-m", "--message", help="The commit's subject (default: 'commit: <ids>').")
@click.option(
    "--strategy",
    type=click.Choice(["ours", "theirs"]),
    help="Resolve conflicting hunks with your file's side (ours) or the branch's (theirs).",
)
@click.pass_context
def commit(
    ctx: click.Context, paths: tuple[str, ...], message: str | None, strategy: Strategy | None
) -> None:
    """Commit blocks and manifests changed on disk, as you.

    All of them, or just PATHs. Each file is merged with whatever the branch got
    meanwhile. Invalid files and conflicts are listed, not committed, and left as
    they are (exit 1 for invalid files, 3 for conflicts).

    \b
    Example:
      gitmem commit -m "Reword the onboarding policy" blocks/organization.md
    """
    outcome = client_of(ctx).commit(
        _store_paths(ctx, paths),
        message=message,
        strategy=strategy,
    )
    if outcome.committed:
        click.echo(f"committed {', '.join(outcome.committed)}")
    elif not outcome.refused and not outcome.conflicts:
        click.echo("nothing to commit")
    for problem in outcome.refused.values():
        click.echo(problem, err=True)
    for conflict in outcome.conflicts:
        click.echo(conflict.merged.report("yours", "branch"), err=True)
    if outcome.conflicts:
        raise ConflictError(
            f"{len(outcome.conflicts)} file(s) not committed: they conflict with changes made "
            "meanwhile; your files are as you left them (resolve, or use --strategy ours|theirs)"
        )
    if outcome.refused:
        raise ValidationError(
            f"{len(outcome.refused)} file(s) not committed; fix them and commit again"
        )


def run_editor(file: Path) -> int:
    """Run $VISUAL, else $EDITOR, else the system's editor on ``file`` (click.edit);
    its exit status, 1 if it failed or could not start."""
    try:
        click.edit(filename=str(file))
    except click.ClickException as e:
        click.echo(e.format_message(), err=True)
        return 1
    return 0


@main.command()
@click.argument("block_id")
@click.pass_context
def edit(ctx: click.Context, block_id: str) -> None:
    """Edit a block in $EDITOR; saving commits it.

    Runs $VISUAL, else $EDITOR, else vi, on a copy of the block's file. The save
    is merged with any change made meanwhile; on a conflict the editor opens
    again with markers.

    \b
    Example:
      EDITOR=nano gitmem edit organization
    """
    outcome = client_of(ctx).edit(block_id, run_editor)
    click.echo(f"committed {', '.join(outcome.committed)}" if outcome.committed else "no changes")
