"""Deployments syncing through one bare hub: every acknowledged operation
survives every merge, and any order of syncs converges (DESIGN §7)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gitmem
from tests.conftest import assert_clean, git

ORG = "organization"
QUEUE = "task_queue"


@pytest.fixture
def deployments(hub: Path, tmp_path: Path) -> Iterator[list[gitmem.Client]]:
    clients = [gitmem.Client.clone(str(hub), tmp_path / name) for name in "abc"]
    yield clients
    for client in clients:
        client.close()


def gitmem_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The gitmem command line, in a process of its own, as a person runs it."""
    command = [sys.executable, "-m", "gitmem", "-C", str(store), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def value(client: gitmem.Client, block: str) -> str:
    return client.blocks.retrieve(block).value


def converge(clients: list[gitmem.Client]) -> None:
    """Two quiet rounds of sync everywhere, as the design promises suffice."""
    for _ in range(2):
        for client in clients:
            client.sync()


def assert_converged(clients: list[gitmem.Client]) -> None:
    heads = {git(c.path, "rev-parse", "HEAD").strip() for c in clients}
    assert len(heads) == 1
    for client in clients:
        assert_clean(client.path)


def test_a_replace_and_appends_on_two_deployments_merge_without_conflict(
    deployments: list[gitmem.Client],
) -> None:
    a, b, _ = deployments
    for args in (
        ("memory", "replace", "worker", ORG, "08:00-18:00", "09:00-18:00"),
        ("memory", "insert", "worker", ORG, "A appended"),
        ("sync",),
    ):
        done = gitmem_cli(a.path, *args)
        assert done.returncode == 0, done.stderr
    done = gitmem_cli(b.path, "memory", "insert", "worker", ORG, "B appended")
    assert done.returncode == 0, done.stderr

    done = gitmem_cli(b.path, "sync")

    assert done.returncode == 0, done.stderr
    lines = value(b, ORG).split("\n")
    assert "09:00-18:00" in lines[0]
    assert lines[-2:] == ["B appended", "A appended"]
    gitmem_cli(a.path, "sync")
    assert value(a, ORG) == value(b, ORG)
    assert_converged([a, b])


def test_pure_appends_on_three_deployments_converge_with_each_line_once(
    deployments: list[gitmem.Client],
) -> None:
    for round_ in range(3):
        for name, client in zip("abc", deployments, strict=True):
            memory = client.agents.memory("worker")
            memory.memory_insert(QUEUE, f"[todo] {name}{round_}-1")
            memory.memory_insert(QUEUE, f"[todo] {name}{round_}-2")
        # Every deployment merges before anyone has everything: the merges
        # that used to put "their own lines first" in three different orders.
        for client in (deployments[1], deployments[2], deployments[0]):
            client.sync()

    converge(deployments)

    expected = sorted(f"[todo] {n}{r}-{i}" for n in "abc" for r in range(3) for i in (1, 2))
    for client in deployments:
        lines = value(client, QUEUE).split("\n")
        assert sorted(lines[1:]) == expected
    assert_converged(deployments)


def test_the_readme_workflow_across_deployments(deployments: list[gitmem.Client]) -> None:
    a, b, _ = deployments
    a.agents.memory("supervisor").memory_insert(QUEUE, "[todo] T-2: Call Dana")
    a.sync()
    b.pull()
    b.agents.memory("worker").memory_replace(QUEUE, "[todo] T-2", "[done] T-2")
    a.agents.memory("supervisor").memory_insert(QUEUE, "[todo] T-3: order spare lidar")
    a.sync()

    b.sync()

    assert value(b, QUEUE).split("\n")[1:] == [
        "[done] T-2: Call Dana",
        "[todo] T-3: order spare lidar",
    ]
    a.pull()
    assert_converged([a, b])


def test_an_insert_in_the_middle_keeps_its_place(deployments: list[gitmem.Client]) -> None:
    a, b, _ = deployments
    a.agents.memory("worker").memory_insert(ORG, "Holidays: closed on 24-26 December.", 1)
    b.agents.memory("worker").memory_insert(ORG, "New hire: Sam (support)")
    a.sync()

    b.sync()

    lines = value(b, ORG).split("\n")
    assert lines[1] == "Holidays: closed on 24-26 December."
    assert lines[-1] == "New hire: Sam (support)"


def test_the_later_rewrite_wins_everywhere(deployments: list[gitmem.Client]) -> None:
    a, b, c = deployments
    a.agents.memory("worker").memory_rethink(QUEUE, "from A")
    b.agents.memory("worker").memory_rethink(QUEUE, "from B")
    # Commit times have one-second resolution; the commit id settles a tie.
    c.agents.memory("worker").memory_insert(QUEUE, "[todo] T-9: from C")

    converge(deployments)

    assert_converged(deployments)
    winner = value(a, QUEUE)
    assert winner.split("\n")[0] in ("from A", "from B")


def test_strategy_never_drops_an_insert_and_says_what_it_dropped(
    deployments: list[gitmem.Client],
) -> None:
    a, b, _ = deployments
    a.agents.memory("worker").memory_replace(QUEUE, "[done] T-1", "[done, A] T-1")
    a.agents.memory("worker").memory_insert(QUEUE, "[todo] A-1")
    a.sync()
    b.agents.memory("worker").memory_replace(QUEUE, "[done] T-1", "[done, B] T-1")
    b.agents.memory("worker").memory_insert(QUEUE, "[todo] B-1")
    assert gitmem_cli(b.path, "sync").returncode == 3

    done = gitmem_cli(b.path, "sync", "--strategy", "ours")

    assert done.returncode == 0, done.stderr
    assert value(b, QUEUE).split("\n") == [
        "[done, B] T-1: Summarise last week's support tickets",
        "[todo] B-1",
        "[todo] A-1",
    ]
    a_replace = git(a.path, "rev-parse", "HEAD~1").strip()[:12]
    assert (
        f"  blocks/task_queue.md: memory_replace by worker ({a_replace}): old_string "
        "'[done] T-1' no longer appears; dropped ('[done] T-1' -> '[done, A] T-1')"
    ) in done.stdout.split("\n")


def test_a_persons_plain_git_edit_merges_with_an_agents_insert(
    deployments: list[gitmem.Client], tmp_path: Path, hub: Path
) -> None:
    a = deployments[0]
    person = tmp_path / "person"
    git(tmp_path, "clone", "-q", str(hub), str(person))
    path = person / "blocks/organization.md"
    path.write_text(path.read_text().replace("500 EUR", "200 EUR"))
    git(person, "commit", "-qam", "Lower the refund threshold")
    git(person, "push", "-q", "origin", "main")
    a.agents.memory("worker").memory_insert(ORG, "Agent line")

    a.sync()

    lines = value(a, ORG).split("\n")
    assert "refunds above 200 EUR need a human." in lines[1]
    assert lines[-1] == "Agent line"
    assert_clean(a.path)


def test_deployments_that_pulled_each_other_at_once_converge(
    deployments: list[gitmem.Client], tmp_path: Path
) -> None:
    a, b, _ = deployments
    a.agents.memory("worker").memory_insert(QUEUE, "[todo] from A")
    b.agents.memory("worker").memory_insert(QUEUE, "[todo] from B")
    a_before = tmp_path / "a-before.git"
    git(tmp_path, "clone", "-q", "--bare", str(a.path), str(a_before))
    # Each merges the other's head as it was: two merge commits, two orders.
    a.pull(str(b.path))
    b.pull(str(a_before))
    assert value(a, QUEUE) != value(b, QUEUE)

    a.pull(str(b.path))
    b.pull(str(a.path))

    assert value(a, QUEUE) == value(b, QUEUE)
    assert_converged([a, b])
