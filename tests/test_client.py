"""The Letta-shaped Python API, against real stores and the real git binary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gitmem
from tests.conftest import PERSON, assert_clean, git


def test_letta_quick_start_runs_with_only_the_client_line_changed(tmp_path: Path) -> None:
    client = gitmem.Client.init(tmp_path / "mem")
    shared_block = client.blocks.create(
        label="organization",
        description="Shared information between all agents.",
        value="Company policies and procedures...",
    )
    supervisor = client.agents.create(
        model="anthropic/claude-haiku-4-5-20251001",
        memory_blocks=[{"label": "persona", "value": "I am a supervisor"}],
        block_ids=[shared_block.id],
    )
    worker = client.agents.create(
        model="anthropic/claude-haiku-4-5-20251001",
        memory_blocks=[{"label": "persona", "value": "I am a worker"}],
        block_ids=[shared_block.id],
    )
    client.agents.blocks.detach(agent_id=worker.id, block_id=shared_block.id)
    client.agents.blocks.attach(agent_id=worker.id, block_id=shared_block.id)
    names = [agent.name for agent in client.blocks.agents.list(block_id=shared_block.id)]
    client.blocks.update(block_id=shared_block.id, value="Customer list (updated ...)")
    client.blocks.update(block_id=shared_block.id, limit=10000)
    policy_block = client.blocks.create(
        label="company_policies", value="Our company policies...", read_only=True
    )
    client.close()

    assert sorted(names) == sorted([supervisor.name, worker.name])
    assert supervisor.id != worker.id
    assert supervisor.block_ids == (f"{supervisor.id}/persona", "organization")
    with gitmem.Client(tmp_path / "mem") as again:
        org = again.blocks.retrieve("organization")
        assert (org.value, org.limit) == ("Customer list (updated ...)", 10000)
        assert again.blocks.retrieve(policy_block.id).read_only is True
        assert again.agents.blocks.retrieve("persona", agent_id=worker.id).value == "I am a worker"
    # init, 1 block, 2 agents, detach, attach, 2 updates, 1 block: one commit each
    assert git(tmp_path / "mem", "rev-list", "--count", "HEAD").strip() == "9"
    assert_clean(tmp_path / "mem")


def test_every_operation_is_one_commit_with_author_and_trailers(client: gitmem.Client) -> None:
    block = client.blocks.create(label="notes", value="one")
    client.agents.create(name="worker", block_ids=[block.id])
    client.agents.memory("worker").memory_insert("notes", "two")

    path = client.path
    log = git(path, "log", "--format=%an <%ae>|%s|%(trailers:only,unfold,separator=;)")
    lines = log.strip().split("\n")
    assert lines == [
        "worker <worker@agents.gitmem>|memory_insert: notes|"
        "Gitmem-Op: memory_insert;Gitmem-Agent: worker;Gitmem-Block: notes;"
        'Gitmem-Args: {"new_string": "two", "insert_line": -1}',
        f"{PERSON[0]} <{PERSON[1]}>|create_agent: worker|"
        "Gitmem-Op: create_agent;Gitmem-Agent: worker",
        f"{PERSON[0]} <{PERSON[1]}>|create_block: notes|"
        "Gitmem-Op: create_block;Gitmem-Block: notes",
        f"{PERSON[0]} <{PERSON[1]}>|init: mem|Gitmem-Op: init",
    ]
    assert (path / "blocks/notes.md").read_text() == (
        "---\nlabel: notes\ndescription: ''\nlimit: 20000\nread_only: false\n---\none\ntwo\n"
    )
    assert_clean(path)


def test_the_person_is_found_as_git_finds_an_author_else_gitmem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mem"
    gitmem.Client.init(path).close()

    def author_of_update(label: str) -> str:
        with gitmem.Client(path) as client:  # a client reads git's config once
            client.blocks.create(label=label)
        return git(path, "log", "-1", "--format=%an <%ae>").strip()

    assert author_of_update("a") == f"{PERSON[0]} <{PERSON[1]}>"  # GIT_AUTHOR_*
    monkeypatch.delenv("GIT_AUTHOR_EMAIL")
    git(path, "config", "user.name", "Configured")
    git(path, "config", "user.email", "configured@example.com")
    assert author_of_update("b") == f"{PERSON[0]} <configured@example.com>"
    monkeypatch.delenv("GIT_AUTHOR_NAME")
    assert author_of_update("c") == "Configured <configured@example.com>"
    git(path, "config", "--unset", "user.name")
    git(path, "config", "--unset", "user.email")
    assert author_of_update("d") == "gitmem <gitmem@localhost>"


def test_a_refused_operation_changes_nothing(client: gitmem.Client) -> None:
    client.blocks.create(label="notes", value="x" * 10, limit=20)
    head = git(client.path, "rev-parse", "HEAD")
    with pytest.raises(gitmem.LimitExceededError, match="21 characters requested, 20 allowed"):
        client.blocks.update("notes", value="y" * 21)
    with pytest.raises(gitmem.LimitExceededError):
        client.blocks.update("notes", limit=5)
    assert git(client.path, "rev-parse", "HEAD") == head
    assert client.blocks.retrieve("notes").value == "x" * 10
    assert_clean(client.path)


UNCLOSED = """
import sys
import gitmem

hub, path = sys.argv[1:]
client = gitmem.Client.clone(hub, path)  # a clone reads its objects from a pack
print(client.blocks.retrieve("organization").label)
client.sync()
again = gitmem.Client(path)
print(len(again.history()))
"""


def test_a_program_that_never_closes_its_client_exits_quietly(tmp_path: Path, hub: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", UNCLOSED, str(hub), str(tmp_path / "b")],
        capture_output=True,
        text=True,
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "organization\n1\n", "")


def test_every_public_type_is_importable_from_the_package() -> None:
    # Lazily loaded names must each resolve to the class they name.
    for name in gitmem.__all__:
        assert getattr(gitmem, name).__name__ == name


def test_check_reads_a_store_too_damaged_to_open(sample: gitmem.Client) -> None:
    assert gitmem.Client.check(sample.path) == gitmem.CheckReport([], 8, 2, 19)
    (sample.path / ".git" / "HEAD").write_text("ref: HEAD\n")
    with pytest.raises(gitmem.CorruptError):
        gitmem.Client(sample.path)

    [problem] = gitmem.Client.check(sample.path / "blocks").problems

    assert str(problem) == ".git/HEAD:1: does not name a branch: b'ref: HEAD'"


def test_hooks_install_again_and_run_what_git_runs(client: gitmem.Client) -> None:
    said = client.hooks.install()
    assert said[-1] == "configured the merge driver merge.gitmem.driver"
    (client.path / "blocks").mkdir()
    (client.path / "blocks" / "bad.md").write_text("no front matter\n")
    git(client.path, "add", "blocks/bad.md")

    assert client.hooks.run("pre-commit") == [
        "blocks/bad.md:1: missing front matter: the file must start with a '---' line"
    ]
    assert client.hooks.run("reference-transaction", ["committed"], updates=["x"]) == []
    with pytest.raises(gitmem.ValidationError, match="gitmem has no 'post-checkout' hook"):
        client.hooks.run("post-checkout")
