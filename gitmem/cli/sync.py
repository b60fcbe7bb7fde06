"""``gitmem clone``, ``pull``, ``push``, ``sync`` and ``remote``: sync between deployments."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitmem.cli.base import client_of, json_option, main, output

if TYPE_CHECKING:
    from gitmem import Pulled, Pushed
    from gitmem.model.merge import Strategy  # what strategy_option's click.Choice lets through

quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="Print nothing but errors (no progress, no summary)."
)
strategy_option = click.option(
    "--strategy",
    type=click.Choice(["ours", "theirs"]),
    help="Settle conflicting hunks with this store's side (ours) or the remote's (theirs).",
)


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[bytes], None] | None]:
    """Transfer progress on a terminal; none when quiet or when stderr is not a TTY."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    err = sys.stderr.buffer
    last = [b"\n"]

    def show(data: bytes) -> None:
        err.write(data)
        err.flush()
        last[0] = data[-1:] or last[0]

    try:
        yield show
    finally:
        if last[0] != b"\n":  # a counter left its line open ("3/34\r")
            err.write(b"\n")
            err.flush()


@contextmanager
def _conflicts_reported(as_json: bool) -> Iterator[None]:
    """With --json, a conflict is JSON on stdout too: the error's first line
    and each conflicting hunk (path, where, base, ours, theirs); exit 3."""
    from gitmem import MergeConflict
    from gitmem.errors import ConflictError

    try:
        yield
    except ConflictError as e:
        if not as_json:
            raise
        summary = str(e).splitlines()[0]
        files = e.conflicts if isinstance(e, MergeConflict) else ()
        hunks = [{"path": m.path, **dataclasses.asdict(h)} for m in files for h in m.conflicts]
        output({"error": summary, "conflicts": hunks}, True, str)
        raise ConflictError(summary) from None


def _pulled(p: Pulled) -> str:
    if p.how == "up to date":
        return f"{p.remote}: up to date"
    line = f"{p.remote}: {p.how}, {p.commits} commit(s)"
    if p.blocks:
        line += f"; blocks changed: {', '.join(p.blocks)}"
    if p.merged:
        line += f"; merged block by block: {', '.join(p.merged)}"
    for settled in p.settled:  # what --strategy gave up, so nobody loses it unseen
        line += f"\n  {settled}"
    return line


def _pushed(p: Pushed) -> str:
    return f"{p.remote}: pushed" if p.pushed else f"{p.remote}: up to date, nothing to push"


@main.command()
@click.argument("url")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@quiet_option
@click.pass_context
def clone(ctx: click.Context, url: str, directory: Path | None, quiet: bool) -> None:
    """Copy a store from a git remote and set it up.

    Copies the store at URL (a path, file://, ssh:// or https://) into DIRECTORY
    (default: the URL's last part without .git); everything that arrives is
    checked, and the hooks and merge driver are installed as by init.

    \b
    Example:
      gitmem clone ssh://memory.example.com/srv/memory.git mem
    """
    from gitmem.client import Client

    here = ctx.obj["path"]
    if (here / url).is_dir():  # a relative path is taken from -C, as the directory is
        url = str(here / url)
    name = directory or Path(url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    with (
        _progress(quiet) as progress,
        Client.clone(url, here / name, progress=progress) as client,
    ):
        if not quiet:
            click.echo(f"Cloned {url} into {client.path}")


@main.command()
@click.argument("remote", required=False)
@strategy_option
@quiet_option
@json_option
@click.pass_context
def pull(
    ctx: click.Context, remote: str | None, strategy: Strategy | None, quiet: bool, as_json: bool
) -> None:
    """Fetch a remote and merge it in, block by block.

    Fetches REMOTE (a name or URL; default: the branch's upstream, else origin)
    and merges it in: fast-forward, or a merge commit with blocks merged block by
    block. On a conflict nothing changes here; each conflicting hunk is listed
    with base, ours and theirs (with --json: as JSON on stdout; exit 3).
    Invalid files arriving refuse the pull.

    \b
    Example:
      gitmem pull origin --strategy theirs
    """
    with _progress(quiet) as progress, _conflicts_reported(as_json):
        pulled = client_of(ctx).pull(remote, strategy=strategy, progress=progress)
    if not quiet:
        output(pulled, as_json, _pulled)


@main.command()
@click.argument("remote", required=False)
@quiet_option
@json_option
@click.pass_context
def push(ctx: click.Context, remote: str | None, quiet: bool, as_json: bool) -> None:
    """Push the branch to a remote.

    Pushes to REMOTE (default: upstream, else origin); refused (exit 3) when the
    remote has commits not merged here: pull, or use sync.

    \b
    Example:
      gitmem push origin
    """
    with _progress(quiet) as progress, _conflicts_reported(as_json):
        pushed = client_of(ctx).push(remote, progress=progress)
    if not quiet:
        output(pushed, as_json, _pushed)


@main.command()
@click.argument("remote", required=False)
@strategy_option
@quiet_option
@json_option
@click.pass_context
def sync(
    ctx: click.Context, remote: str | None, strategy: Strategy | None, quiet: bool, as_json: bool
) -> None:
    """Pull, then push; again if the remote moved meanwhile.

    If the remote moved between the pull and the push, pull and push again (a
    few times at most).

    \b
    Example:
      gitmem sync
    """
    with _progress(quiet) as progress, _conflicts_reported(as_json):
        synced = client_of(ctx).sync(remote, strategy=strategy, progress=progress)
    if quiet:
        return
    if as_json:
        output(synced, True, str)
        return
    for pulled in synced.pulls:
        click.echo(_pulled(pulled))
    click.echo(_pushed(synced.push))


@main.group()
def remote() -> None:
    """Add and list the git remotes a store syncs with.

    They are git's own remotes: `git remote -v` shows the same ones.
    """


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.pass_context
def remote_add(ctx: click.Context, name: str, url: str) -> None:
    """Add remote NAME at URL (a path, file://, ssh:// or https://).

    \b
    Example:
      gitmem remote add origin ssh://memory.example.com/srv/memory.git
    """
    client_of(ctx).add_remote(name, url)


@remote.command("list")
@json_option
@click.pass_context
def remote_list(ctx: click.Context, as_json: bool) -> None:
    """List the remotes: name and URL.

    \b
    Example:
      gitmem remote list
    """
    found = client_of(ctx).remotes()
    if as_json:
        output(found, True, str)
    else:
        for name, url in found.items():
            click.echo(f"{name}\t{url}")
