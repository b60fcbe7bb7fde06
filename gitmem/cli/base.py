"""The top ``gitmem`` group and what every command shares. Errors become exit codes
here and nowhere else: 1 error, 2 usage, 3 conflict (a retry may succeed).

Start-up of a one-shot command is mostly imports, so modules only some commands
need (json, tempfile, the command modules, dulwich) are imported where used."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, NoReturn, TypeVar, overload

import click

from gitmem.errors import ConflictError, CorruptError, GitmemError, ValidationError

if TYPE_CHECKING:
    from click.decorators import FC

    from gitmem.client import Client  # loaded by the commands that use it
    from gitmem.model.block import Block

T = TypeVar("T")

EXIT_CONFLICT = 3


class _Failed(click.ClickException):
    exit_code = 1


class _Conflict(_Failed):
    exit_code = EXIT_CONFLICT


def _internal_error(exc: BaseException) -> NoReturn:
    """A bug in gitmem: the error, that it is a bug, where to report it and the
    versions involved; the traceback goes to a report file, not the screen."""
    from gitmem.cli.crash import report

    raise _Failed(report(exc))


class _Group(click.Group):
    """The top group: loads a command's module when the command is first wanted
    (``lazy``: name -> (summary, modules in gitmem.cli)), and turns gitmem errors
    into one line and an exit code."""

    lazy: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}  # there is one top group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            for module in self.lazy[name][1]:
                importlib.import_module(f"gitmem.cli.{module}")
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The summaries come from the table, so --help imports no command module.
        rows = [
            (
                name,
                self.lazy[name][0] if name in self.lazy else self.commands[name].short_help or "",
            )
            for name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConflictError as e:
            raise _Conflict(str(e)) from None
        except CorruptError as e:
            raise _Failed(f"{e} (run 'gitmem check')") from None
        except GitmemError as e:
            ctx.meta["gitmem.error"] = str(e)
            raise _Failed(str(e)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`gitmem ... | head`): stop quietly, as git does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(141) from None
        except OSError as e:
            raise _Failed(f"{e.filename or ''}: {e.strerror}".lstrip(": ")) from None
        except Exception as e:
            _internal_error(e)


def client_of(ctx: click.Context) -> Client:
    """The command's client, opened on first use and closed when the command ends."""
    from gitmem.client import Client

    root = ctx.find_root()
    obj = root.obj
    client = obj.get("client")
    if not isinstance(client, Client):
        client = obj["client"] = root.with_resource(Client(obj["path"]))
        root.call_on_close(lambda: _warn(client.skipped(), root.meta.get("gitmem.error", "")))
    return client


def _warn(skipped: list[str], error: str) -> None:
    """Say once, on stderr, which committed files the command skipped as not valid
    (not again when the command's error says it)."""
    for problem in (p for p in skipped if p not in error):
        click.echo(f"warning: skipped {problem}; fix the file, then gitmem commit", err=True)


def _json(value: object) -> str:
    import dataclasses
    import json

    def plain(v: object) -> object:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return dataclasses.asdict(v)
        return str(v)

    return json.dumps(value, indent=2, ensure_ascii=False, default=plain)


@overload
def output(value: list[T], as_json: bool, text: Callable[[T], str]) -> None: ...
@overload
def output(value: T, as_json: bool, text: Callable[[T], str]) -> None: ...
def output(value: T | list[T], as_json: bool, text: Callable[[T], str]) -> None:
    """Print ``value`` (one item or a list) as JSON, or as ``text`` of each item."""
    if as_json:
        click.echo(_json(value))
        return
    items: list[T] = value if isinstance(value, list) else [value]
    for item in items:
        line = text(item)
        click.echo(line, nl=not line.endswith("\n"))


def block_line(b: Block) -> str:
    flags = " read-only" if b.read_only else ""
    return f"{b.id}\t{b.label}\t{len(b.value)}/{b.limit}{flags}"


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
# For a server command, which users give the store to beside its own options.
store_option = click.option(
    "-C",
    "path",
    metavar="PATH",
    type=click.Path(file_okay=False, path_type=Path),
    help="The store (as 'gitmem -C PATH').",
)


def _version(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A version is a blob id; anything else is a typo (exit 2), not a conflict (exit 3)."""
    from gitmem.client import Client

    if value is None:
        return None
    if not Client.is_version(value):
        raise click.BadParameter(
            f"{value!r} is not a block version (40 hex digits, as 'blocks show --json' prints)"
        ) from None
    return value.lower()


if_version_option = click.option(
    "--if-version",
    callback=_version,
    help="Only if the block is still at this version (else exit 3).",
)


def read_value(value: str | None, value_file: Path | None) -> str | None:
    if value is not None and value_file is not None:
        raise click.UsageError("give --value or --value-file, not both")
    if value_file is not None:
        return read_text(value_file)
    if value == "-":
        return read_text(None)
    return value


def read_text(source: Path | None) -> str:
    """UTF-8 text from a file or (``None``) stdin, read no further than any block can hold."""
    from gitmem.model.block import MAX_FILE_BYTES, decode

    if source is None:
        name, data = "<stdin>", sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    else:
        with source.open("rb") as f:
            name, data = str(source), f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError(f"{name}: more than {MAX_FILE_BYTES} bytes, too long for any block")
    return decode(data, name)


def value_options(f: FC) -> FC:
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
    metavar="PATH",
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
