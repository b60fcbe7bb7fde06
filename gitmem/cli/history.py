"""``gitmem blocks log|blame|diff|revert`` and ``gitmem log``: who wrote what, and when."""

from __future__ import annotations

import time

import click

from gitmem.cli.base import client_of, json_option, main, output
from gitmem.cli.blocks import blocks


def when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(seconds))


@blocks.command("log")
@click.argument("block_id")
@click.option("-n", "limit", type=click.IntRange(min=1), help="Show at most N commits.")
@json_option
@click.pass_context
def blocks_log(ctx: click.Context, block_id: str, limit: int | None, as_json: bool) -> None:
    """List the commits that changed a block, newest first: commit, time, agent
    (or person), operation, and value lines added/removed.

    \b
    Example:
      gitmem blocks log organization -n 5
    """
    found = client_of(ctx).blocks.history(block_id, limit=limit)
    output(
        found,
        as_json,
        lambda r: (
            f"{r.commit[:12]}\t{when(r.time)}\t{r.who}\t{r.op or '-'}\t+{r.added} -{r.removed}"
        ),
    )


@blocks.command("blame")
@click.argument("block_id")
@json_option
@click.pass_context
def blocks_blame(ctx: click.Context, block_id: str, as_json: bool) -> None:
    """Show each line of a block's value with the commit, agent (or person) and
    time that last changed it.

    \b
    Example:
      gitmem blocks blame organization
    """
    found = client_of(ctx).blocks.blame(block_id)
    output(
        found,
        as_json,
        lambda b: f"{b.commit[:12]}\t{b.who}\t{when(b.time)}\t{b.line}\t{b.text}",
    )


@blocks.command("diff")
@click.argument("block_id")
@click.argument("old", required=False)
@click.argument("new", required=False)
@json_option
@click.pass_context
def blocks_diff(
    ctx: click.Context, block_id: str, old: str | None, new: str | None, as_json: bool
) -> None:
    """Show how a block changed: front matter, then a unified diff of the value.

    With no revision, the block's last change; with OLD, from OLD to the head;
    with OLD and NEW, between the two. A revision is a commit-ish or a date.

    \b
    Example:
      gitmem blocks diff organization HEAD~3
      gitmem blocks diff organization "2 days ago" "1 day ago"
    """
    found = client_of(ctx).blocks.diff(block_id, old, new)
    if as_json:
        output(found, True, str)
    else:
        click.echo(found.text(), nl=False)


@blocks.command("revert")
@click.argument("block_id")
@click.option("--to", "rev", required=True, help="The revision (commit-ish or date) to restore.")
@json_option
@click.pass_context
def blocks_revert(ctx: click.Context, block_id: str, rev: str, as_json: bool) -> None:
    """Restore a block's value and front matter as of a revision, in a new commit
    (history is kept). Refused if the result would be invalid now.

    \b
    Example:
      gitmem blocks revert organization --to HEAD~2
    """
    block = client_of(ctx).blocks.revert(block_id, to=rev)
    output(block, as_json, lambda b: f"{b.id} {b.version}")


@main.command("log")
@click.option("--agent", help="Only commits by this agent (Gitmem-Agent).")
@click.option("--block", help="Only commits naming or changing this block.")
@click.option("--op", help="Only this operation (Gitmem-Op), e.g. memory_insert.")
@click.option("--since", metavar="DATE", help="Only commits since DATE ('2 hours ago', ISO).")
@click.option("-n", "limit", type=click.IntRange(min=1), help="Show at most N commits.")
@json_option
@click.pass_context
def log(
    ctx: click.Context,
    agent: str | None,
    block: str | None,
    op: str | None,
    since: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Show the store's history, filtered by agent, block, op.

    Newest first: commit, time, agent (or person), subject.

    \b
    Example:
      gitmem log --agent worker --op memory_insert --since "1 day ago"
    """
    found = client_of(ctx).history(limit, agent=agent, block=block, op=op, since=since)
    output(
        found,
        as_json,
        lambda e: f"{e.commit[:12]}\t{when(e.time)}\t{e.who}\t{e.subject}",
    )
