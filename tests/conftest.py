"""Shared fixtures: real stores in tmp_path, the real git binary, an isolated HOME."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import gitmem

PERSON = ("Pat Person", "pat@example.com")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs as a known person with its own HOME and no stray git settings."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "VISUAL", "EDITOR"):
        monkeypatch.delenv(var, raising=False)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", PERSON[0])
        monkeypatch.setenv(f"GIT_{role}_EMAIL", PERSON[1])


@pytest.fixture
def client(tmp_path: Path) -> Iterator[gitmem.Client]:
    """A new empty store."""
    with gitmem.Client.init(tmp_path / "mem") as c:
        yield c


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[gitmem.Client]:
    """A store made from sample_repo/ (agents supervisor and worker)."""
    with gitmem.Client.init(tmp_path / "sample", sample=True) as c:
        yield c


def client_on(path: Path, branch: str) -> gitmem.Client:
    """A client writing to ``branch``: agents keep to the store's branch whatever
    HEAD says, so a test that merges branches made with gitmem names the other one."""
    client = gitmem.Client(path)
    client._store.repo.use_branch(branch)
    return client


def git(path: Path, *args: str, check: bool = True) -> str:
    """Run the real git binary in ``path`` and return its stdout."""
    done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def assert_clean(path: Path) -> None:
    """What git itself says after every operation: nothing to commit, objects sound."""
    assert git(path, "status", "--porcelain", "--untracked-files=all") == ""
    git(path, "fsck", "--strict", "--no-dangling")


def cli_commands(
    group: click.Group | None = None, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every gitmem command and group, by its words (``("blocks", "show")``), loading
    the lazily registered ones as a user's command line would."""
    from gitmem.cli import main

    group = group or main
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"gitmem {' '.join((*prefix, name))} does not load"
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from cli_commands(command, (*prefix, name))


@pytest.fixture
def hub(tmp_path: Path, sample: gitmem.Client) -> Path:
    """A bare repository (HEAD: main) that ``sample`` has pushed to, its origin."""
    path = tmp_path / "hub.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(path))
    sample.add_remote("origin", str(path))
    sample.push()
    return path
