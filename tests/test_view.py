"""A bad committed file is one bad file: plain git commits without the hook
(`git revert`, `--no-verify`) can commit an invalid block or manifest; reads
skip it with its problem, the commit and the author, and everything else works."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import gitmem
from gitmem.cli import main
from tests.conftest import assert_clean, git

ORG = "blocks/organization.md"
UNKNOWN = (
    "blocks/organization.md:5: unknown key 'readonly' "
    "(allowed: label, description, limit, read_only, metadata)"
)


def cli(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), *args])


def revert_to_a_bad_block(client: gitmem.Client) -> str:
    """Reproduction 8: a typo committed past the hook, fixed with gitmem, then the
    fix reverted with `git revert` (which runs no pre-commit hook). Returns the
    problem as reads report it."""
    org = client.path / ORG
    org.write_text(org.read_text().replace("read_only: false", "readonly: false"))
    git(client.path, "commit", "-q", "--no-verify", "-am", "typo")
    org.write_text(org.read_text().replace("readonly: false", "read_only: false"))
    assert client.commit().committed == (ORG,)
    git(client.path, "revert", "--no-edit", "HEAD")
    revert = git(client.path, "rev-parse", "HEAD").strip()
    # Agents keep writing elsewhere: the commit named is still the revert.
    client.agents.memory("worker").memory_insert("task_queue", "[todo] T-3")
    return f"{UNKNOWN} (from commit {revert[:12]} by Pat Person <pat@example.com>)"


def test_a_bad_committed_block_is_skipped_and_everything_else_works(
    sample: gitmem.Client,
) -> None:
    problem = revert_to_a_bad_block(sample)

    assert "organization" not in [b.id for b in sample.blocks.list()]
    assert len(sample.blocks.list()) == 7
    assert sample.problems() == [problem]
    memory = sample.agents.memory("supervisor")
    assert "<organization>" not in memory.compile()
    assert "<task_queue>" in memory.compile()
    memory.memory_insert("task_queue", "[todo] T-4")
    assert sample.blocks.retrieve("task_queue").value.endswith("[todo] T-3\n[todo] T-4")
    for use in (
        lambda: sample.blocks.retrieve("organization"),
        lambda: memory.memory_insert("organization", "x"),
        lambda: sample.blocks.update("organization", value="x"),
    ):
        with pytest.raises(gitmem.BadFileError) as refused:
            use()
        assert str(refused.value) == problem
    assert sample.skipped() == [problem]

    # A person fixes the file and commits it: nothing is skipped any more.
    org = sample.path / ORG
    org.write_text(org.read_text().replace("readonly: false", "read_only: false"))
    assert sample.commit().committed == (ORG,)
    assert sample.problems() == []
    assert len(sample.blocks.list()) == 8
    assert_clean(sample.path)


def test_the_cli_warns_once_and_fails_only_what_uses_the_bad_block(
    sample: gitmem.Client,
) -> None:
    problem = revert_to_a_bad_block(sample)
    warning = f"warning: skipped {problem}; fix the file, then gitmem commit\n"

    listed = cli(sample.path, "blocks", "list")
    assert (listed.exit_code, listed.stderr) == (0, warning)
    assert len(listed.stdout.splitlines()) == 7
    rendered = cli(sample.path, "agents", "render", "supervisor")
    assert (rendered.exit_code, rendered.stderr) == (0, warning)
    inserted = cli(sample.path, "memory", "insert", "worker", "task_queue", "[todo] T-5")
    assert (inserted.exit_code, inserted.stderr) == (0, warning)
    refused = cli(sample.path, "memory", "insert", "worker", "organization", "x")
    assert (refused.exit_code, refused.stderr) == (1, f"Error: {problem}\n")
    checked = cli(sample.path, "check")
    assert (checked.exit_code, checked.stdout) == (1, f"{UNKNOWN}\n")


def test_a_bad_committed_manifest_disables_only_its_agent(sample: gitmem.Client) -> None:
    worker = sample.path / "agents/worker.yaml"
    worker.write_text(worker.read_text() + "colour: blue\n")
    git(sample.path, "commit", "-q", "--no-verify", "-am", "colour")
    commit = git(sample.path, "rev-parse", "HEAD").strip()
    line = worker.read_text().count("\n")
    problem = (
        f"agents/worker.yaml:{line}: unknown key 'colour' "
        "(allowed: name, description, model, blocks, metadata) "
        f"(from commit {commit[:12]} by Pat Person <pat@example.com>)"
    )

    assert [a.id for a in sample.agents.list()] == ["supervisor"]
    assert sample.problems() == [problem]
    with pytest.raises(gitmem.BadFileError) as refused:
        sample.agents.memory("worker")
    assert str(refused.value) == problem
    sample.agents.memory("supervisor").memory_insert("task_queue", "[todo] T-3")
    sample.blocks.update("organization", description="Still works.")
    assert sample.blocks.retrieve("organization").description == "Still works."
