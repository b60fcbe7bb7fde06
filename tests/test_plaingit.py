"""A person using plain git while agents write without pause: real processes,
the real git binary and gitmem's hooks (issue 12, reproduction 10).

git never waits for ``index.lock``, and ``git commit`` fails when the branch
moves between its start and its end, so agents must leave the index lock free
almost all the time and hold still while a person's git command runs. Before
that, 0 of 10 attempts succeeded (bench/plaingit.py measures it).
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import gitmem
from tests.conftest import assert_clean, git
from tests.test_concurrency import start

ATTEMPTS = 10
WRITERS = 4


def make_store(path: Path) -> Path:
    """Agent w writes ``shared``; ``notes`` is the person's, which no agent touches."""
    with gitmem.Client.init(path) as client:
        client.blocks.create(label="shared", limit=1_000_000)
        client.blocks.create(label="notes", value="by hand:")
        client.agents.create(name="w", block_ids=["shared"])
    return path


def why(done: subprocess.CompletedProcess[str]) -> str:
    return f"{' '.join(done.args[:2])}: {done.stderr.strip()}"


def test_git_add_and_commit_succeed_at_once_while_agents_write(tmp_path: Path) -> None:
    store = make_store(tmp_path / "mem")
    go = tmp_path / "go"
    writers = [start(store, "insert", "w", "shared", f"p{i}", "-1", go=go) for i in range(WRITERS)]
    go.touch()
    acked: list[str] = []
    for w in writers:  # every writer is writing
        assert w.stdout is not None
        acked.append(w.stdout.readline().strip())
    failed = []
    committed = []
    try:
        for k in range(ATTEMPTS):
            with open(store / "blocks/notes.md", "a") as f:
                f.write(f"person-{k}\n")
            for args in (["add", "blocks/notes.md"], ["commit", "-q", "-m", f"person-{k}"]):
                done = subprocess.run(
                    ["git", *args], cwd=store, capture_output=True, text=True, check=False
                )
                if done.returncode:
                    failed.append(why(done))
                    break
            else:
                committed.append(f"person-{k}")
            threading.Event().wait(0.05)  # a person types the next command
    finally:
        for w in writers:
            w.kill()
            out, _ = w.communicate()
            acked += out.split()

    # The person almost never has to try again: git add may find an agent's
    # index.lock (held ~0.4 ms of each operation: ~2 % of the time with 4
    # writers), git commit never finds the branch moved or its copy stale.
    assert len(failed) <= 2, failed
    assert all(f.startswith("git add: fatal: Unable to create") for f in failed), failed
    subjects = git(store, "log", "--format=%s").split("\n")
    assert [s for s in subjects if s.startswith("person-")] == committed[::-1]
    # ... and every insert an agent was told had landed is there, once.
    with gitmem.Client(store) as client:
        shared = client.blocks.retrieve("shared").value.split("\n")
        notes = client.blocks.retrieve("notes").value.split("\n")
    assert not set(acked) - set(shared)
    assert len(shared) == len(set(shared))
    assert notes == ["by hand:", *committed]
    assert_clean(store)
