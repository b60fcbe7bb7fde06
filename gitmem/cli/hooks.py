"""``gitmem hooks install``, and what git runs: ``gitmem hook`` and ``gitmem merge-driver``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitmem.cli.base import main
from gitmem.errors import ConflictError, ValidationError

if TYPE_CHECKING:
    from gitmem.store import Store


@main.group()
def hooks() -> None:
    """Make plain git check and merge blocks the way gitmem does."""


@hooks.command("install")
@click.pass_context
def hooks_install(ctx: click.Context) -> None:
    """Install the pre-commit hooks and the block-aware merge driver in this store
    (gitmem init does it; run it again after moving gitmem to another Python).

    \b
    Example:
      gitmem hooks install
    """
    from gitmem import hooks as githooks
    from gitmem.store import Store

    store = Store.open(ctx.obj["path"])
    try:
        for line in githooks.install(store.repo):
            click.echo(line)
    finally:
        store.close()


@main.command()
@click.argument("name")
@click.argument("args", nargs=-1)
@click.pass_context
def hook(ctx: click.Context, name: str, args: tuple[str, ...]) -> None:
    """Run the check of git hook NAME (what the installed hook scripts call):
    pre-commit and pre-merge-commit refuse invalid blocks and manifests, and
    copies older than the branch; reference-transaction refuses to stash them.

    \b
    Example:
      gitmem hook pre-commit
    """
    from gitmem import hooks as githooks
    from gitmem.store import Store

    if name not in githooks.HOOKS:
        raise ValidationError(f"gitmem has no {name!r} hook (it has {', '.join(githooks.HOOKS)})")
    store = Store.open(ctx.obj["path"])
    try:
        if name == "reference-transaction":
            problems, refused = _reference_transaction(store, args)
        else:
            # git names the index it is about to commit (commit -a and commit PATH
            # use a temporary one), relative to where it runs the hook.
            given = os.environ.get("GIT_INDEX_FILE")
            index = Path(ctx.obj["path"]) / given if given else store.repo.gitdir / "index"
            problems, refused = githooks.check_index(store, index), "commit"
    finally:
        store.close()
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise ValidationError(
            f"gitmem: {refused} refused; fix the files above, git add them and commit again"
        )


def _reference_transaction(store: Store, args: tuple[str, ...]) -> tuple[list[str], str]:
    """The updates git is about to make (stdin: "<old> <new> <ref>" lines) checked
    in the prepared state: a stash being saved, or a commit moving the store's
    branch, must not hold an older copy. Returns the problems, and what is refused."""
    from gitmem import hooks as githooks

    if args[:1] != ("prepared",):
        return [], ""
    branch = store.repo.branch_ref().decode()
    problems, refused = [], "commit"
    for line in sys.stdin.read().splitlines():
        old, new, ref = [*line.split(" ", 2), "", ""][:3]
        if not new.strip("0"):
            continue  # deleted
        if ref == "refs/stash":
            problems += githooks.check_stash(store, new)
            refused = "stash"
        elif ref == branch and old.strip("0"):
            problems += githooks.check_commit(store, old, new)
    return problems, refused


@main.command("merge-driver")
@click.argument("base", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ours", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("theirs", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("path")
@click.pass_context
def merge_driver(ctx: click.Context, base: Path, ours: Path, theirs: Path, path: str) -> None:
    """Merge a block or manifest for git (merge.gitmem.driver runs it with
    %O %A %B %P): the result goes into OURS; conflicts leave markers and exit 1.

    \b
    Example:
      git config merge.gitmem.driver "gitmem merge-driver %O %A %B %P"
    """
    from gitmem.hooks import merge_files

    merged = merge_files(base, ours, theirs, path, Path(ctx.obj["path"]))
    if merged.conflicts:
        click.echo(merged.report(), err=True)
        raise ConflictError(f"{path}: conflicts left between <<<<<<< and >>>>>>> markers")
    if merged.error:
        raise ValidationError(f"{merged.error}; fix the merged file before committing")
