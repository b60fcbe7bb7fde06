"""The gitmem command: every command, its output, its errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from gitmem.cli import main
from tests.conftest import assert_clean, cli_commands, git


def run(store: Path | None, *args: str, input: str | None = None) -> Result:
    prefix = ["-C", str(store)] if store else []
    return CliRunner().invoke(main, [*prefix, *args], input=input)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "mem"
    assert run(None, "init", str(path)).exit_code == 0
    return path


def test_init_and_init_sample(tmp_path: Path) -> None:
    result = run(None, "init", str(tmp_path / "a"))
    assert result.exit_code == 0
    assert result.output == f"Initialised gitmem store in {tmp_path / 'a'}\n"
    result = run(tmp_path, "init", "--sample", "b")
    assert result.exit_code == 0
    assert run(tmp_path / "b", "agents", "list").output == (
        "supervisor\tsupervisor/persona, organization, task_queue, domain_knowledge, "
        "user_preferences, handoff_context, system_config\n"
        "worker\tworker/persona, organization, task_queue, domain_knowledge, handoff_context, "
        "system_config\n"
    )
    assert_clean(tmp_path / "b")


def test_blocks_commands(store: Path, tmp_path: Path) -> None:
    out = run(
        store, "blocks", "create", "--label", "organization", "--value", "Acme", "--limit", "100"
    )
    assert (out.exit_code, out.output) == (0, "organization\n")
    value_file = tmp_path / "v.txt"
    value_file.write_text("from a file\n")
    assert (
        run(store, "blocks", "create", "--label", "f", "--value-file", str(value_file)).exit_code
        == 0
    )
    assert (
        run(store, "blocks", "create", "--label", "s", "--value", "-", input="from stdin").exit_code
        == 0
    )
    assert run(store, "blocks", "show", "f").output.endswith("---\nfrom a file\n\n")
    assert run(store, "blocks", "list").output == (
        "f\tf\t12/20000\norganization\torganization\t4/100\ns\ts\t10/20000\n"
    )
    shown = json.loads(run(store, "blocks", "show", "organization", "--json").output)
    assert shown["value"] == "Acme"
    assert shown["version"] == git(store, "rev-parse", "HEAD:blocks/organization.md").strip()

    out = run(
        store,
        "blocks",
        "update",
        "organization",
        "--value",
        "Acme 2",
        "--read-only",
        "--if-version",
        shown["version"],
    )
    assert out.exit_code == 0
    assert run(store, "blocks", "show", "organization").output == (
        "---\nlabel: organization\ndescription: ''\nlimit: 100\nread_only: true\n---\nAcme 2\n"
    )
    stale = run(
        store, "blocks", "update", "organization", "--value", "x", "--if-version", shown["version"]
    )
    assert stale.exit_code == 3
    assert stale.output.startswith("Error: block 'organization' changed: you read version ")

    run(store, "agents", "create", "worker", "--block", "organization")
    assert run(store, "blocks", "agents", "organization").output == "worker\n"
    refused = run(store, "blocks", "delete", "organization")
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: block 'organization' is attached to worker; detach it first or delete with force\n"
    )
    assert run(store, "blocks", "delete", "organization", "--force").exit_code == 0
    assert run(store, "agents", "blocks", "worker").output == ""
    assert_clean(store)


def test_agents_commands(store: Path) -> None:
    run(store, "blocks", "create", "--label", "organization")
    out = run(
        store,
        "agents",
        "create",
        "worker",
        "--model",
        "m",
        "--memory-block",
        "persona=I am a worker",
        "--block",
        "organization",
    )
    assert (out.exit_code, out.output) == (0, "worker\n")
    assert run(store, "agents", "show", "worker").output == (
        "name: worker\ndescription: ''\nmodel: m\nblocks:\n- worker/persona\n- organization\n"
        "metadata: {}\n"
    )
    assert run(store, "agents", "blocks", "worker").output == (
        "worker/persona\tpersona\t13/20000\norganization\torganization\t0/20000\n"
    )
    assert run(store, "agents", "detach", "worker", "organization").exit_code == 0
    assert json.loads(run(store, "agents", "show", "worker", "--json").output)["block_ids"] == [
        "worker/persona"
    ]
    assert run(store, "agents", "attach", "worker", "organization").exit_code == 0
    assert "<organization>" in run(store, "agents", "render", "worker").output
    generated = run(store, "agents", "create").output.strip()
    assert generated.startswith("agent-")
    assert run(store, "agents", "delete", "worker", "--delete-blocks").exit_code == 0
    assert [a["id"] for a in json.loads(run(store, "agents", "list", "--json").output)] == [
        generated
    ]
    assert_clean(store)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["blocks", "show", "nope"], 1, "Error: block 'nope' does not exist\n"),
        (["agents", "show", "nobody"], 1, "Error: agent 'nobody' does not exist\n"),
        (["blocks", "show", "../x"], 1, "Error: invalid block id '../x': use up to 128 characters"),
        (
            ["blocks", "create", "--label", "l", "--value", "abc", "--limit", "2"],
            1,
            "Error: block 'l': value is too long: 3 characters requested, 2 allowed\n",
        ),
        (["agents", "create", "Big Bot"], 1, "Error: invalid agent id 'Big Bot'"),
        (["agents", "create", "a", "--memory-block", "novalue"], 2, "Error: Invalid value for"),
        (["blocks", "create"], 2, "Error: Missing option '--label'"),
        (["blocks", "frobnicate"], 2, "Error: No such command 'frobnicate'"),
    ],
)
def test_errors_are_one_line_with_exit_codes(
    store: Path, args: list[str], code: int, message: str
) -> None:
    result = run(store, *args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.rstrip("\n").count("\n") <= 3  # usage errors add a usage line
    assert_clean(store)


def test_outside_a_store(tmp_path: Path) -> None:
    result = run(tmp_path, "blocks", "list")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: not a gitmem store: {tmp_path} (or any parent); create one with 'gitmem init'\n"
    )


def test_every_command_has_help_with_an_example() -> None:
    for words, command in cli_commands():
        path = " ".join(("gitmem", *words))
        assert command.help, f"{path} has no help"
        if not isinstance(command, click.Group):
            assert "Example:" in command.help, f"{path} --help shows no example"


def test_the_command_index_lists_exactly_the_commands_there_are() -> None:
    top = {words[0] for words, _ in cli_commands()}
    assert top == set(main.lazy)
    assert set(main.commands) == set(main.lazy)  # loading them all added no others


def test_module_and_console_script_run(store: Path) -> None:
    console_script = str(Path(sys.executable).parent / "gitmem")
    for label, argv in (("x", [sys.executable, "-m", "gitmem"]), ("y", [console_script])):
        done = subprocess.run(
            [*argv, "-C", str(store), "blocks", "create", "--label", label, "--value", "-"],
            input=f"piped to {label}",
            capture_output=True,
            text=True,
            check=False,
        )
        assert (done.returncode, done.stdout, done.stderr) == (0, f"{label}\n", "")
        assert run(store, "blocks", "show", label).output.endswith(f"---\npiped to {label}\n")
    refused = subprocess.run(
        [console_script, "-C", str(store), "blocks", "show", "Nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: invalid block id 'Nope'")
    assert refused.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "command",
    [
        ["blocks", "update", "organization", "--value", "x"],
        ["memory", "insert", "worker", "organization", "x"],
        ["memory", "replace", "worker", "organization", "Acme", "Acme Inc."],
        ["memory", "rethink", "worker", "organization", "x"],
    ],
    ids=["blocks-update", "insert", "replace", "rethink"],
)
def test_if_version_that_is_no_version_is_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    store = tmp_path / "mem"
    assert run(None, "init", "--sample", str(store)).exit_code == 0
    head = git(store, "rev-parse", "HEAD")

    done = run(store, *command, "--if-version", "garbage")

    assert done.exit_code == 2
    assert done.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--if-version': 'garbage' is not a block version "
        "(40 hex digits, as 'blocks show --json' prints)"
    )
    assert git(store, "rev-parse", "HEAD") == head
    # A version given in capitals is the same version.
    version = json.loads(run(store, "blocks", "show", "organization", "--json").stdout)["version"]
    done = run(store, *command, "--if-version", version.upper())
    assert done.exit_code == 0, done.output
