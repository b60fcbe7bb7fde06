"""The README's examples work, and it mentions every command group.

Every ```sh block in README.md is run as a user would type it: by ``sh``, line
by line in one shell, in a fresh directory with its own HOME, with the real
``gitmem`` console script of this Python and the real git. Each line must exit 0,
or the code its comment promises (``# refused (exit 1): ...``). An HTML comment
on the line before a block says what the block needs:

- ``<!-- run after: COMMANDS -->``: the store the text around the block speaks
  of, made by COMMANDS first (``gitmem init --sample mem && cd mem``).
- ``<!-- not run: WHY -->``: a block a test cannot run (it needs the claude CLI,
  or it is this test suite); the test is reported as skipped with WHY.

``$EDITOR`` is a ``sed`` that appends a line, so ``gitmem edit`` saves a change
without a person at a terminal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gitmem.cli import main
from gitmem.cli.docs import COMMAND, reference

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()

# An optional <!-- note --> on the line before the fence, the block, its first line.
SH_BLOCK = re.compile(r"^(?:<!-- (?P<note>.*?) -->\n)?```sh\n(?P<code>.*?)^```$", re.S | re.M)
EXPECTED_EXIT = re.compile(r"#.*\(exit (\d+)\)")


def sh_blocks() -> list[object]:
    """Each sh block as pytest parameters: the setup its note asks for, its code
    and its first line in README.md."""
    found: list[object] = []
    for m in SH_BLOCK.finditer(README):
        line = README.count("\n", 0, m.start("code")) + 1
        note = m["note"] or ""
        marks: list[pytest.MarkDecorator] = []
        setup = ""
        if note.startswith("not run:"):
            marks.append(pytest.mark.skip(reason=f"README.md:{line}: {note}"))
        elif note.startswith("run after:"):
            setup = note.removeprefix("run after:").strip()
        elif note:
            raise ValueError(f"README.md:{line - 2}: say 'not run: WHY' or 'run after: COMMANDS'")
        found.append(pytest.param(setup, m["code"], line, id=f"README.md:{line}", marks=marks))
    return found


def script(setup: str, code: str, first: int) -> str:
    """``code`` (whose first line is line ``first`` of README.md) as one sh script
    that stops at the first line exiting other than it promises, naming that line."""
    numbered = [(first - 2, setup)] if setup else []
    numbered += [(first + i, text) for i, text in enumerate(code.splitlines())]
    out = []
    for line, text in numbered:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        assert not text.endswith("\\"), f"README.md:{line}: write the command on one line"
        expected = EXPECTED_EXIT.search(text)
        status = int(expected[1]) if expected else 0
        out.append(text)
        out.append(
            f's=$?; [ "$s" = {status} ] || '
            f'{{ echo "README.md:{line}: exit $s, expected {status}" >&2; exit 99; }}'
        )
    return "\n".join(out) + "\n"


@pytest.mark.slow  # a dozen gitmem and git processes a block
@pytest.mark.parametrize(("setup", "code", "line"), sh_blocks())
def test_readme_shell_example_runs(tmp_path: Path, setup: str, code: str, line: int) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "EDITOR": "sed -i -e '$a Edited by the README test.'",
    }
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        ["sh", "-c", script(setup, code, line)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for code in re.findall(r"```python\n(.*?)```", README, re.S):
        exec(compile(code, "README.md", "exec"), {})


def test_readme_mentions_every_command() -> None:
    for name in main.list_commands(click.Context(main)):
        assert f"gitmem {name}" in README, f"README does not mention 'gitmem {name}'"


def test_the_cli_reference_is_what_the_commands_help_says_now() -> None:
    checked_in = (ROOT / "docs/cli.md").read_text()
    assert checked_in == reference(), f"docs/cli.md is out of date: run {COMMAND}"
    assert "[docs/cli.md](docs/cli.md)" in README


def test_the_command_index_summaries_are_the_commands_own() -> None:
    """``gitmem --help`` lists the summaries in gitmem/cli/__init__.py, so as not to
    import every command; each must be the first sentence of its command's help."""
    ctx = click.Context(main)
    for name, (summary, _) in main.lazy.items():
        command = main.get_command(ctx, name)
        assert command is not None
        own = command.get_short_help_str(limit=1000)
        assert summary == own, f"gitmem/cli/__init__.py: the summary of {name} is now {own!r}"
