"""The command reference, docs/cli.md, made from each command's ``--help``.

Run ``python -m gitmem.cli.docs docs/cli.md`` after changing a command; the
tests fail while the checked-in file differs from what this makes now.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from gitmem.cli import main

# Help is wrapped to this many columns whatever the terminal, so the file is the
# same on every machine.
WIDTH = 80
COMMAND = "python -m gitmem.cli.docs docs/cli.md"


def commands(ctx: click.Context | None = None) -> Iterator[tuple[str, click.Context]]:
    """Every command and group, as its words (``gitmem blocks show``) and a context
    to render its help in, loading the lazily registered ones."""
    if ctx is None:
        ctx = click.Context(main, info_name="gitmem", terminal_width=WIDTH, **main.context_settings)
    yield ctx.command_path, ctx
    group = ctx.command
    if isinstance(group, click.Group):
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, f"{ctx.command_path} {name} does not load"
            yield from commands(click.Context(command, info_name=name, parent=ctx))


def reference() -> str:
    """docs/cli.md as the commands' help makes it now."""
    helps = [(path, ctx.command.get_help(ctx)) for path, ctx in commands()]
    lines = [
        "# gitmem command reference",
        "",
        f"<!-- Made by `{COMMAND}` from each command's --help; do not edit. -->",
        "",
        "What `gitmem COMMAND --help` prints, for every command.",
        "",
        *(f"- [{path}](#{path.replace(' ', '-')})" for path, _ in helps),
    ]
    for path, text in helps:
        lines += ["", f"## {path}", "", "```", text, "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(reference(), encoding="utf-8")
    else:
        sys.stdout.write(reference())
