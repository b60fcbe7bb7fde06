"""The ``gitmem`` command: parse arguments, call the library, print. Errors become
exit codes here and nowhere else: 1 error, 2 usage, 3 conflict (a retry may succeed)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from gitmem.errors import ConflictError, GitmemError

EXIT_CONFLICT = 3


class _Failed(click.ClickException):
    exit_code = 1


class _Conflict(_Failed):
    exit_code = EXIT_CONFLICT


def _internal_error(exc: BaseException) -> NoReturn:
    fd, report = tempfile.mkstemp(prefix="gitmem-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write("".join(traceback.format_exception(exc)))
    raise _Failed(f"internal error: {exc!r} (full report in {report})")


class _Group(click.Group):
    """The top group: turns gitmem errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConflictError as e:
            raise _Conflict(str(e)) from None
        except GitmemError as e:
            raise _Failed(str(e)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except OSError as e:
            raise _Failed(f"{e.filename or ''}: {e.strerror}".lstrip(": ")) from None
        except Exception as e:
            _internal_error(e)


def _client(ctx: click.Context) -> Any:
    from gitmem.client import Client

    obj = ctx.find_root().obj
    if obj.get("client") is None:
        obj["client"] = ctx.with_resource(Client(obj["path"]))
    return obj["client"]


def _json(value: Any) -> str:
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return dataclasses.asdict(v)
        return str(v)

    return json.dumps(value, indent=2, ensure_ascii=False, default=plain)


def _output(value: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """Print ``value`` (one item or a list) as JSON, or as ``text`` of each item."""
    if as_json:
        click.echo(_json(value))
        return
    for item in value if isinstance(value, list) else [value]:
        line = text(item)
        click.echo(line, nl=not line.endswith("\n"))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _read_value(value: str | None, value_file: Path | None) -> str | None:
    if value is not None and value_file is not None:
        raise click.UsageError("give --value or --value-file, not both")
    if value_file is not None:
        return value_file.read_text(encoding="utf-8")
    if value == "-":
        return sys.stdin.read()
    return value


def value_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--value-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the value from a file.",
    )(f)
    return click.option("--value", help="The value; '-' reads it from stdin.")(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "path",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run as if started in PATH.",
)
@click.version_option(package_name="gitmem")
@click.pass_context
def main(ctx: click.Context, path: Path) -> None:
    """gitmem: shared memory blocks for AI agents, kept in a Git repository.

    \b
    Example:
      gitmem init mem && cd mem
      gitmem blocks create --label organization --value "Acme builds robots."
      gitmem agents create worker --block organization
    """
    ctx.obj = {"path": path, "client": None}


# -- init and demo ---------------------------------------------------------


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--sample", is_flag=True, help="Fill the store with the sample memory.")
@click.pass_context
def init(ctx: click.Context, directory: Path | None, sample: bool) -> None:
    """Make a new store in DIRECTORY (default: the current directory).

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
    """Play the supervisor/worker story on a store made from the sample memory.

    \b
    Example:
      gitmem demo --keep /tmp/demo-store
    """
    from gitmem.demo import run

    run(click.echo, keep)


# -- blocks ----------------------------------------------------------------


@main.group()
def blocks() -> None:
    """Create, read, change and delete memory blocks."""


def _block_line(b: Any) -> str:
    flags = " read-only" if b.read_only else ""
    return f"{b.id}\t{b.label}\t{len(b.value)}/{b.limit}{flags}"


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
    block = _client(ctx).blocks.create(
        label=label,
        value=_read_value(value, value_file) or "",
        description=description,
        limit=limit,
        read_only=read_only,
        id=block_id,
    )
    _output(block, as_json, lambda b: b.id)


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
    _output(_client(ctx).blocks.list(label=label), as_json, _block_line)


@blocks.command("show")
@click.argument("block_id")
@json_option
@click.pass_context
def blocks_show(ctx: click.Context, block_id: str, as_json: bool) -> None:
    """Print a block as its file reads (or all its fields with --json).

    \b
    Example:
      gitmem blocks show organization
    """
    from gitmem.block import dump

    _output(_client(ctx).blocks.retrieve(block_id), as_json, lambda b: dump(b).decode())


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
@click.option("--if-version", help="Only if the block is still at this version (else exit 3).")
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
    from gitmem.store import UNSET

    given = {
        "value": _read_value(value, value_file),
        "description": description,
        "limit": limit,
        "read_only": read_only,
        "label": label,
    }
    fields = {k: UNSET if v is None else v for k, v in given.items()}
    block = _client(ctx).blocks.update(block_id, if_version=if_version, **fields)
    _output(block, as_json, lambda b: f"{b.id} {b.version}")


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
    _client(ctx).blocks.delete(block_id, force=force)


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
    found = _client(ctx).blocks.agents.list(block_id)
    _output(found, as_json, lambda a: a.id)


# -- agents ----------------------------------------------------------------


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
    agent = _client(ctx).agents.create(
        name=name,
        description=description,
        model=model,
        memory_blocks=specs,
        block_ids=block_ids,
    )
    _output(agent, as_json, lambda a: a.id)


@agents.command("list")
@json_option
@click.pass_context
def agents_list(ctx: click.Context, as_json: bool) -> None:
    """List agents and their blocks.

    \b
    Example:
      gitmem agents list --json
    """
    _output(_client(ctx).agents.list(), as_json, lambda a: f"{a.id}\t{', '.join(a.block_ids)}")


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
    from gitmem.manifest import dump

    agent = _client(ctx).agents.retrieve(agent_id)
    _output(agent, as_json, lambda a: dump(a).decode())


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
    _client(ctx).agents.delete(agent_id, delete_blocks=delete_blocks)


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
    _client(ctx).agents.blocks.attach(block_id, agent_id=agent_id)


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
    _client(ctx).agents.blocks.detach(block_id, agent_id=agent_id)


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
    _output(_client(ctx).agents.blocks.list(agent_id), as_json, _block_line)


@agents.command("render")
@click.argument("agent_id")
@click.pass_context
def agents_render(ctx: click.Context, agent_id: str) -> None:
    """Print the agent's core memory as it goes into a prompt (Letta's format).

    \b
    Example:
      gitmem agents render worker
    """
    click.echo(_client(ctx).agents.memory(agent_id).compile())


# -- memory tools ------------------------------------------------------------


@main.group()
def memory() -> None:
    """Run an agent's memory tools (each change is one commit by the agent)."""


def _text(text: str) -> str:
    return sys.stdin.read() if text == "-" else text


@memory.command("insert")
@click.argument("agent_id")
@click.argument("label")
@click.argument("text")
@click.option(
    "--line",
    "insert_line",
    type=int,
    default=-1,
    show_default=True,
    help="Insert after this line (0: at the top, -1: at the end).",
)
@click.option("--if-version", help="Only if the block is still at this version (else exit 3).")
@click.pass_context
def memory_insert(
    ctx: click.Context,
    agent_id: str,
    label: str,
    text: str,
    insert_line: int,
    if_version: str | None,
) -> None:
    """Insert TEXT ('-': stdin) as lines into the agent's block LABEL.

    \b
    Example:
      gitmem memory insert worker task_queue "[done] T-2: call the customer"
    """
    mem = _client(ctx).agents.memory(agent_id)
    click.echo(mem.memory_insert(label, _text(text), insert_line, if_version=if_version))


@memory.command("replace")
@click.argument("agent_id")
@click.argument("label")
@click.argument("old")
@click.argument("new")
@click.option("--if-version", help="Only if the block is still at this version (else exit 3).")
@click.pass_context
def memory_replace(
    ctx: click.Context, agent_id: str, label: str, old: str, new: str, if_version: str | None
) -> None:
    """Replace the one occurrence of OLD with NEW in the agent's block LABEL.

    \b
    Example:
      gitmem memory replace worker task_queue "[todo] T-2" "[done] T-2"
    """
    mem = _client(ctx).agents.memory(agent_id)
    click.echo(mem.memory_replace(label, old, new, if_version=if_version))


@memory.command("rethink")
@click.argument("agent_id")
@click.argument("label")
@click.argument("text")
@click.option("--if-version", help="Only if the block is still at this version (else exit 3).")
@click.pass_context
def memory_rethink(
    ctx: click.Context, agent_id: str, label: str, text: str, if_version: str | None
) -> None:
    """Rewrite the agent's block LABEL with TEXT ('-': stdin).

    \b
    Example:
      echo "I am a careful worker." | gitmem memory rethink worker persona -
    """
    mem = _client(ctx).agents.memory(agent_id)
    click.echo(mem.memory_rethink(label, _text(text), if_version=if_version))
