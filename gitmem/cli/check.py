"""``gitmem check``."""

from __future__ import annotations

import click

from gitmem.cli.base import json_option, main, output


@main.command("check")
@json_option
@click.pass_context
def check(ctx: click.Context, as_json: bool) -> None:
    """Find everything wrong with the store, changing nothing.

    Checks every block and manifest at the branch head and on disk (format,
    ids, limits, attached blocks that exist, labels unique per agent), files
    that do not belong in blocks/ and agents/, symbolic links (reported, never
    followed), stale git lock files, and every Git object reachable from the
    branch. Prints each problem as path:line: message and exits 1 if any.
    Editors' temporary files on disk are ignored.

    \b
    Example:
      gitmem check --json
    """
    from gitmem.client import Client
    from gitmem.errors import ValidationError

    report = Client.check(ctx.obj["path"])
    if as_json:
        output(report, True, str)
    else:
        for problem in report.problems:
            click.echo(str(problem))
    if report.problems:
        count = len(report.problems)
        raise ValidationError(f"found {count} problem{'s' if count > 1 else ''}")
    if not as_json:
        click.echo(
            f"ok: {report.blocks} blocks, {report.agents} agents, "
            f"{report.objects} Git objects checked"
        )
