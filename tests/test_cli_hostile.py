"""Every CLI command, found by walking ``main``, run with hostile arguments: never a
traceback; a refusal is one ``Error:`` line and a non-zero exit."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from types import FrameType

import click
import pytest
from click.testing import CliRunner, Result

import gitmem
from gitmem.cli import crash, main
from tests.conftest import assert_clean, cli_commands, git

HOSTILE = ["../x", "/abs/x", "Upper", "has space", "tab\tx", "bell\x07", "x" * 201, ".git", ""]
# Commands whose parameters are filters that accept any text (a label to match).
ACCEPT_ANY_TEXT = {("blocks", "list")}
# Commands that need no store: they make one or work in a temporary one, or git
# runs them inside one (hooks, the merge driver).
STORELESS = {("init",), ("demo",), ("clone",), ("hook",), ("merge-driver",)}
TIME_LIMIT = 20  # seconds for one command; a command that waits forever fails the test


COMMANDS = {w: c for w, c in cli_commands() if not isinstance(c, click.Group)}


def arguments(command: click.Command, text: str, tmp_path: Path) -> list[str]:
    """``text`` for every text parameter; a file where a directory is wanted (and the
    other way round) for every path parameter that must be given."""
    args: list[str] = []
    a_file = tmp_path / "a-file"
    a_file.touch()
    for param in command.params:
        if isinstance(param.type, click.Path):
            if not (isinstance(param, click.Argument) or param.required):
                continue
            value = str(a_file if not param.type.file_okay else tmp_path)
        elif param.type is click.STRING:
            value = text
        elif param.required:
            value = "1"
        else:
            continue
        if isinstance(param, click.Option):
            if param.is_flag:
                continue
            args.append(param.opts[0])
        args.append(value)
    return args


def run(*args: str) -> Result:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"gitmem {' '.join(args)} ran for more than {TIME_LIMIT} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIME_LIMIT)
    try:
        return CliRunner().invoke(main, list(args), input="")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    if result.exit_code != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.stderr


def test_the_walk_finds_every_command() -> None:
    assert {("blocks", "create"), ("agents", "attach"), ("memory", "insert"), ("check",)} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("name", [" ".join(n) for n in COMMANDS])
def test_hostile_arguments_are_refused_in_one_line(
    sample: gitmem.Client, tmp_path: Path, name: str
) -> None:
    path = tuple(name.split(" "))
    command = COMMANDS[path]
    head = git(sample.path, "rev-parse", "HEAD")
    tried: set[tuple[str, ...]] = set()
    for text in HOSTILE:
        args = tuple(arguments(command, text, tmp_path))
        if args in tried:
            continue  # no text parameter: one run says it all
        tried.add(args)
        result = run("-C", str(sample.path), *path, *args)
        assert_no_traceback(result)
        if text in args and path not in ACCEPT_ANY_TEXT:
            assert result.exit_code != 0, f"gitmem {name} accepted {args}: {result.output}"
    assert git(sample.path, "rev-parse", "HEAD") == head
    assert_clean(sample.path)


@pytest.mark.parametrize("name", [" ".join(n) for n in COMMANDS if n not in STORELESS])
def test_a_missing_store_is_one_line(tmp_path: Path, name: str) -> None:
    path = tuple(name.split(" "))
    missing = tmp_path / "no" / "store"
    # "x=y" passes every text parameter's own syntax (LABEL=VALUE too) but a
    # version's, which must look like one: the store is missing.
    args = arguments(COMMANDS[path], "x=y", tmp_path)
    previous = ["", *args]
    args = ["0" * 40 if previous[i] == "--if-version" else a for i, a in enumerate(args)]
    result = run("-C", str(missing), *path, *args)
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: not a gitmem store: {missing} (or any parent); create one with 'gitmem init'\n"
    )


@pytest.fixture
def crash_command() -> Iterator[str]:
    """A command with a bug in it, to see what a user sees when gitmem has one."""

    @main.command("crash-for-test")
    def crash() -> None:
        raise RuntimeError("something gitmem did not expect\nsecond line")

    yield "crash-for-test"
    del main.commands["crash-for-test"]


def test_an_internal_error_is_one_line_and_a_report(
    crash_command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = run(crash_command)
    assert result.exit_code == 1
    [report] = tmp_path.glob("gitmem-crash-*.txt")
    assert result.stderr == (
        "Error: internal error: RuntimeError: something gitmem did not expect "
        f"(full report in {report})\n"
        "This is a bug in gitmem; please report it to gitmem's maintainers with that file "
        f"({crash.versions()})\n"
    )
    text = report.read_text()
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: something gitmem did not expect\nsecond line" in text


def test_an_internal_error_without_a_place_for_the_report(
    crash_command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    result = run(crash_command)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: internal error: RuntimeError: something gitmem did not expect "
        "(no report written: No such file or directory)\n"
        "This is a bug in gitmem; please report it to gitmem's maintainers with this message "
        f"({crash.versions()})\n"
    )


# A bug planted in a real gitmem process, where `gitmem init` calls the library.
PLANTED = """
import sys
import gitmem.client
from gitmem.cli import main

def planted(*args, **kwargs):
    raise RuntimeError("a bug planted by the test")

gitmem.client.Client.init = planted
main(sys.argv[1:], prog_name="gitmem")
"""


@pytest.mark.parametrize("git_on_path", [True, False], ids=["git", "no git"])
def test_a_crash_names_the_versions_of_gitmem_dulwich_git_and_python(
    tmp_path: Path, git_on_path: bool
) -> None:
    if git_on_path:
        path, git_said = os.environ["PATH"], f"git {git_version()}"
    else:
        path, git_said = str(Path(sys.executable).parent), "git: not on PATH"
    done = subprocess.run(
        [sys.executable, "-c", PLANTED, "init", "mem"],
        cwd=tmp_path,
        env={**os.environ, "PATH": path, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )

    [report] = tmp_path.glob("gitmem-crash-*.txt")
    versions = (
        f"gitmem {metadata.version('gitmem')}, dulwich {metadata.version('dulwich')}, {git_said}, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "Error: internal error: RuntimeError: a bug planted by the test "
        f"(full report in {report})\n"
        "This is a bug in gitmem; please report it to gitmem's maintainers with that file "
        f"({versions})\n"
    )
    text = report.read_text()
    assert text.startswith(f"command: gitmem 'init' 'mem'\nversions: {versions}\n\n")
    assert "Traceback (most recent call last)" in text
    assert text.endswith("RuntimeError: a bug planted by the test\n")


def git_version() -> str:
    done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.removeprefix("git version ").strip()
