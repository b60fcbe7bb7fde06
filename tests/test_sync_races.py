"""Concurrent syncs and pushes: deployments (separate clones) and processes
in one clone syncing through one bare hub at the same time, as real
processes. Nothing crashes, no ref names a missing object, every write lands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import gitmem
from gitmem.cli import main
from gitmem.ops.check import check_store
from tests.conftest import assert_clean, git

# One deployment's loop: create a block of its own, then sync; print how each
# sync ended. Anything but a GitmemError escapes as a traceback on stderr.
SYNCER = """
import sys
import gitmem

path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with gitmem.Client(path) as client:
    for k in range(count):
        client.blocks.create(label=f"{name}-{k}", value="x")
        try:
            client.sync()
            print("synced", flush=True)
        except gitmem.ConflictError as e:
            print("conflict", str(e).splitlines()[0], flush=True)
"""

ROUNDS = 10


def start(store: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SYNCER, str(store), name, str(ROUNDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_deployments_and_processes_syncing_at_once_never_crash(
    tmp_path: Path, sample: gitmem.Client, hub: Path
) -> None:
    stores = {"a": sample.path, "b": tmp_path / "b", "c": tmp_path / "c"}
    for name in ("b", "c"):
        gitmem.Client.clone(str(hub), stores[name]).close()
    # Two processes in store a, one in each of b and c.
    runs = {
        name: start(stores[store], name)
        for name, store in (("a1", "a"), ("a2", "a"), ("b", "b"), ("c", "c"))
    }
    outcomes = {name: p.communicate() for name, p in runs.items()}

    ended = {n: (runs[n].returncode, err.splitlines()[-1:]) for n, (_, err) in outcomes.items()}
    assert ended == dict.fromkeys(runs, (0, []))
    assert all(len(out.splitlines()) == ROUNDS for out, _ in outcomes.values())
    # Quiet now: two rounds of sync everywhere leave equal heads holding every block.
    for _ in range(2):
        for path in stores.values():
            with gitmem.Client(path) as client:
                client.sync()
    heads = {git(path, "rev-parse", "HEAD") for path in stores.values()}
    assert heads == {git(hub, "rev-parse", "main")}
    ids = {b.id for b in sample.blocks.list()}
    assert {f"{n}-{k}" for n in runs for k in range(ROUNDS)} <= ids
    for path in stores.values():
        assert_clean(path)  # fsck: refs/remotes/origin/main names an object
        assert check_store(path).problems == []
    git(hub, "fsck", "--strict", "--no-dangling")


def cli(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), *args])


def test_a_push_meeting_another_on_the_hub_exits_3_and_changes_nothing(
    sample: gitmem.Client, hub: Path
) -> None:
    sample.blocks.create(label="new", value="x")
    lock = hub / "refs/heads/main.lock"
    lock.write_text("")  # another push is moving the hub's branch right now
    before = git(hub, "rev-parse", "main")

    done = cli(sample.path, "push")

    assert (done.exit_code, done.stderr) == (
        3,
        f"Error: push to origin/main rejected: another push holds {lock}; try again "
        "(delete it if no push is running)\n",
    )
    assert git(hub, "rev-parse", "main") == before
    assert git(sample.path, "rev-parse", "origin/main") == before
    lock.unlink()
    assert cli(sample.path, "push").exit_code == 0
    assert git(hub, "rev-parse", "main") == git(sample.path, "rev-parse", "HEAD")


def test_check_reports_a_remote_tracking_ref_naming_a_missing_commit(
    sample: gitmem.Client,
) -> None:
    missing = "b6cad23d1734965b85cb92ef4b1da94e0acdf51a"
    tracking = sample.path / ".git/refs/remotes/origin/main"
    tracking.parent.mkdir(parents=True)
    tracking.write_text(missing + "\n")

    done = cli(sample.path, "check")

    assert done.exit_code == 1
    assert done.stdout == f".git/refs/remotes/origin/main:1: names {missing}, which is missing\n"
