"""The README's examples work, and it mentions every command group."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from gitmem.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for code in re.findall(r"```python\n(.*?)```", README, re.S):
        exec(compile(code, "README.md", "exec"), {})


def test_readme_mentions_every_command() -> None:
    for name in main.list_commands(click.Context(main)):
        assert f"gitmem {name}" in README, f"README does not mention 'gitmem {name}'"
