"""``gitmem hooks install``/``uninstall``, and what git runs: ``gitmem hook`` and
``gitmem merge-driver``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gitmem.cli.base import main
from gitmem.errors import ConflictError, ValidationError


@main.group()
def hooks() -> None:
    """Make plain git check and merge blocks the way gitmem does."""


@hooks.command("install")
@click.pass_context
def hooks_install(ctx: click.Context) -> None:
    """Install gitmem's hooks and merge driver in this store.

    The pre-commit hooks and the block-aware merge driver: gitmem init does it;
    run it again after moving gitmem to another Python. A hook that was there
    before is kept as <hook>.legacy and runs first.

    \b
    Example:
      gitmem hooks install
    """
    from gitmem.client import Client

    with Client(ctx.obj["path"]) as client:
        for line in client.hooks.install():
            click.echo(line)


@hooks.command("uninstall")
@click.pass_context
def hooks_uninstall(ctx: click.Context) -> None:
    """Remove gitmem's hooks and merge driver from this store.

    A hook that was there before gitmem (kept as <hook>.legacy) is put back; hooks
    that are not gitmem's are left alone. Running it again is harmless.

    \b
    Example:
      gitmem hooks uninstall
    """
    from gitmem.client import Client

    with Client(ctx.obj["path"]) as client:
        for line in client.hooks.uninstall():
            click.echo(line)


@main.command()
@click.argument("name")
@click.argument("args", nargs=-1)
@click.pass_context
def hook(ctx: click.Context, name: str, args: tuple[str, ...]) -> None:
    """Run a git hook's check (what installed hooks call).

    The check of git hook NAME: pre-commit and pre-merge-commit refuse invalid
    blocks and manifests, and copies older than the branch; reference-transaction
    refuses to stash them.

    \b
    Example:
      gitmem hook pre-commit
    """
    from gitmem.client import Client

    # git names the index it is about to commit (commit -a and commit PATH use a
    # temporary one), relative to where it runs the hook; reference-transaction
    # gets the ref updates on stdin.
    given = os.environ.get("GIT_INDEX_FILE")
    index = Path(ctx.obj["path"]) / given if given else None
    with Client(ctx.obj["path"]) as client:
        problems = client.hooks.run(name, args, index=index, updates=sys.stdin)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        refused = "stash" if name == "reference-transaction" else "commit"
        raise ValidationError(
            f"gitmem: {refused} refused; fix the files above, git add them and commit again"
        )


@main.command("merge-driver")
@click.argument("base", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ours", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("theirs", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("path")
@click.pass_context
def merge_driver(ctx: click.Context, base: Path, ours: Path, theirs: Path, path: str) -> None:
    """Merge a block or manifest for git.

    merge.gitmem.driver runs it with %O %A %B %P: the result goes into OURS.
    Conflicts leave markers in OURS and exit 3; a merged file that is not valid
    exits 1.

    \b
    Example:
      git config merge.gitmem.driver "gitmem merge-driver %O %A %B %P"
    """
    from gitmem.client import Hooks

    merged = Hooks.merge(base, ours, theirs, path, Path(ctx.obj["path"]))
    if merged.conflicts:
        click.echo(merged.report(), err=True)
        raise ConflictError(f"{path}: conflicts left between <<<<<<< and >>>>>>> markers")
    if merged.error:
        raise ValidationError(f"{merged.error}; fix the merged file before committing")
