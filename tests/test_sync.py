"""Sync between deployments: a bare remote, gitmem stores A and B and a plain
`git clone` C, over local paths, ssh (a stand-in ssh that runs the command on
this machine) and smart HTTP from a dulwich server started here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from dulwich.repo import Repo
from dulwich.server import BackendRepo, DictBackend
from dulwich.web import WSGIRequestHandlerLogger, WSGIServerLogger, make_server, make_wsgi_chain

import gitmem
from gitmem.cli import main
from gitmem.ops.sync import Pulled, Pushed, Synced
from tests.conftest import assert_clean, git

ORG = "blocks/organization.md"
QUEUE = "blocks/task_queue.md"
T1 = "[done] T-1: Summarise last week's support tickets"
TO_FIX = (
    "to fix: where that commit was made, correct the file on disk, then gitmem commit "
    "and gitmem push (in a plain git clone: git commit -a, git push); then pull again"
)


@dataclass
class World:
    remote: Path
    a: gitmem.Client
    b: gitmem.Client
    c: Path  # a plain `git clone`, without gitmem's hooks


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    a = gitmem.Client.init(tmp_path / "a", sample=True)
    a.add_remote("origin", str(remote))
    a.push()
    b = gitmem.Client.clone(str(remote), tmp_path / "b")
    git(tmp_path, "clone", "-q", str(remote), "c")
    yield World(remote, a, b, tmp_path / "c")
    a.close()
    b.close()


def cli(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), *args])


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").strip()


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file of a working tree and the index, to show nothing changed."""
    files = {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    kept = {p: d for p, d in files.items() if not p.startswith(".git/") or p == ".git/index"}
    return {**kept, "HEAD": head(path).encode()}


def commit_in_c(world: World, message: str, *, no_verify: bool = False) -> None:
    git(world.c, "add", "-A")
    git(world.c, "commit", "-q", "-m", message, *(["--no-verify"] if no_verify else []))
    git(world.c, "push", "-q", "origin", "main")


def insert(client: gitmem.Client, text: str) -> None:
    client.agents.memory("worker").memory_insert("task_queue", text)


def test_inserts_on_both_sides_land_on_both_after_sync(world: World) -> None:
    insert(world.a, "[todo] T-3: from A")
    insert(world.b, "[todo] T-4: from B")

    first, second, third = world.a.sync(), world.b.sync(), world.a.sync()

    assert first == Synced((Pulled("origin/main", "up to date"),), Pushed("origin/main", True))
    merged = Pulled("origin/main", "merge", 1, ("task_queue",), (QUEUE,))
    assert second == Synced((merged,), Pushed("origin/main", True))
    fast = Pulled("origin/main", "fast-forward", 2, ("task_queue",))
    assert third == Synced((fast,), Pushed("origin/main", False))
    expected = f"{T1}\n[todo] T-4: from B\n[todo] T-3: from A"
    assert world.a.blocks.retrieve("task_queue").value == expected
    assert world.b.blocks.retrieve("task_queue").value == expected
    merge = world.b.history(1)[0]
    assert (merge.subject, merge.op, merge.blocks) == (
        "pull: merge origin/main: task_queue",
        "pull",
        ("task_queue",),
    )
    assert len(merge.parents) == 2
    assert head(world.a.path) == head(world.b.path) == head(world.remote)
    for store in (world.a.path, world.b.path):
        assert_clean(store)
        # The branch moved like any commit (the watcher follows it), with a reflog entry.
        assert git(store, "log", "-g", "-1", "--format=%gs").startswith("gitmem: pull: ")


def test_sync_while_head_is_detached_moves_the_branch_only(world: World) -> None:
    insert(world.a, "[todo] T-3: from A")
    world.a.sync()
    insert(world.b, "[todo] T-4: from B")
    git(world.b.path, "checkout", "-q", "--detach", "HEAD~1")
    detached = snapshot(world.b.path)

    synced = cli(world.b.path, "sync")

    assert (synced.exit_code, synced.stderr) == (0, "")
    assert snapshot(world.b.path) == detached  # HEAD, index and files: the person's
    assert git(world.b.path, "rev-parse", "main") == git(world.remote, "rev-parse", "main")
    git(world.b.path, "checkout", "-q", "main")
    expected = f"{T1}\n[todo] T-4: from B\n[todo] T-3: from A"
    assert world.b.blocks.retrieve("task_queue").value == expected
    assert_clean(world.b.path)


def test_the_same_change_on_both_sides_still_joins_the_histories(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for client, person in ((world.a, "Ann"), (world.b, "Bo")):  # two commits, one tree
        monkeypatch.setenv("GIT_AUTHOR_NAME", person)
        client.blocks.update("organization", description="Changed on both sides.")
    world.a.push()

    assert world.b.pull() == Pulled("origin/main", "merge", 1)
    assert world.b.push() == Pushed("origin/main", True)
    assert world.b.history(1)[0].subject == "pull: merge origin/main"
    assert_clean(world.b.path)


def test_conflicting_replaces_change_nothing_and_exit_3(world: World) -> None:
    world.a.agents.memory("worker").memory_replace("task_queue", "[done] T-1", "[done, A] T-1")
    world.a.push()
    world.b.agents.memory("worker").memory_replace("task_queue", "[done] T-1", "[done, B] T-1")
    b_commit = head(world.b.path)[:12]
    before = snapshot(world.b.path)

    done = cli(world.b.path, "pull")

    # The remote's replace cannot be replayed here: the lines show why.
    assert done.exit_code == 3
    assert done.stderr == (
        "Error: pull from origin/main: 1 file(s) conflict with changes made here; nothing was "
        "changed (pull again with --strategy ours|theirs, or change one side and sync)\n"
        "blocks/task_queue.md: conflict in value line 1:\n"
        f"  base:   {T1}\n"
        "  ours:   [done, B] T-1: Summarise last week's support tickets\n"
        "  theirs: [done, A] T-1: Summarise last week's support tickets\n"
    )
    assert snapshot(world.b.path) == before
    assert_clean(world.b.path)

    done = cli(world.b.path, "pull", "--strategy", "theirs")

    # Theirs wins: our replace is the one given up, and the output says so.
    assert done.exit_code == 0, done.output
    assert done.stdout == (
        "origin/main: merge, 1 commit(s); blocks changed: task_queue; "
        "merged block by block: blocks/task_queue.md\n"
        f"  blocks/task_queue.md: memory_replace by worker ({b_commit}): old_string "
        "'[done] T-1' no longer appears; dropped ('[done] T-1' -> '[done, B] T-1')\n"
    )
    assert done.stderr == ""  # no progress when stderr is not a terminal
    value = world.b.blocks.retrieve("task_queue").value
    assert value == "[done, A] T-1: Summarise last week's support tickets"
    assert_clean(world.b.path)


def test_an_over_limit_block_pushed_with_hooks_bypassed_is_refused(world: World) -> None:
    path = world.c / "blocks/system_config.md"
    path.write_text(path.read_text().replace("limit: 5000", "limit: 20"))
    commit_in_c(world, "lower the limit", no_verify=True)
    before = snapshot(world.a.path)

    done = cli(world.a.path, "pull")

    assert done.exit_code == 1
    assert done.stderr == (
        "Error: pull from origin/main refused; nothing was changed here:\n"
        "blocks/system_config.md:7: value is too long: 86 characters requested, 20 allowed"
        f" (from commit {head(world.c)[:12]} by Pat Person <pat@example.com>)\n{TO_FIX}\n"
    )
    assert snapshot(world.a.path) == before
    assert_clean(world.a.path)

    # What the message says fixes it does.
    path.write_text(path.read_text().replace("limit: 20", "limit: 200"))
    commit_in_c(world, "a limit the value fits")
    assert world.a.pull().how == "fast-forward"
    assert world.a.blocks.retrieve("system_config").limit == 200


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (
            lambda c: (c / "blocks/link.md").symlink_to("organization.md"),
            "blocks/link.md:1: is a symbolic link; gitmem never follows links in the store",
        ),
        (
            lambda c: (c / "run.sh").write_text("echo hello\n"),
            "run.sh:1: not a block or an agent manifest "
            "(a store holds blocks/<id>.md, agents/<id>.yaml and gitmem.yaml)",
        ),
        (
            lambda c: (c / "blocks/Notes.md").write_text("---\nlabel: notes\n---\n"),
            "blocks/Notes.md:1: invalid block id 'Notes': use up to 128 characters of "
            "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, "
            "in '/'-separated parts",
        ),
        (
            lambda c: (c / "agents/worker.yaml").write_text("name: worker\nblocks: [nope]\n"),
            "agents/worker.yaml:2: block 'nope' does not exist",
        ),
        (
            lambda c: (c / "gitmem.yaml").write_text("format: 1\ndefault_limit: 2000000\n"),
            "gitmem.yaml:2: 'default_limit' is 2000000, over the maximum of 1000000 characters",
        ),
        (
            lambda c: (c / "gitmem.yaml").write_text("format: 1\nbranch: trunk\n"),
            "gitmem.yaml:2: the store's branch is main and stays so (agents write there); "
            "keep 'branch: main'",
        ),
    ],
    ids=["symlink", "stray-file", "bad-id", "missing-block", "default-limit", "branch"],
)
def test_files_that_are_not_valid_blocks_are_refused(
    world: World, make: Callable[[Path], object], problem: str
) -> None:
    make(world.c)
    commit_in_c(world, "odd file")
    before = snapshot(world.a.path)

    with pytest.raises(gitmem.ValidationError) as refused:
        world.a.pull()

    assert str(refused.value) == (
        f"pull from origin/main refused; nothing was changed here:\n{problem}"
        f" (from commit {head(world.c)[:12]} by Pat Person <pat@example.com>)\n{TO_FIX}"
    )
    assert snapshot(world.a.path) == before


def test_a_file_a_person_is_editing_is_left_alone_and_merged_on_commit(world: World) -> None:
    (world.a.path / ORG).write_text((world.a.path / ORG).read_text() + "Edited in A.\n")
    world.b.blocks.update("organization", description="Changed in B.")
    world.b.push()

    pulled = world.a.pull()

    assert pulled == Pulled("origin/main", "fast-forward", 1, ("organization",))
    assert (world.a.path / ORG).read_text().endswith("Edited in A.\n")
    assert "Changed in B." not in (world.a.path / ORG).read_text()
    assert [(s.path, s.change, s.problem) for s in world.a.status()] == [(ORG, "modified", None)]
    world.a.commit()
    block = world.a.blocks.retrieve("organization")
    assert (block.description, block.value.endswith("Edited in A.")) == ("Changed in B.", True)
    assert_clean(world.a.path)


def test_git_pull_with_the_merge_driver_gives_the_same_files(world: World, tmp_path: Path) -> None:
    insert(world.a, "[todo] T-3: from A")
    world.a.blocks.update("organization", description="Changed in A.")
    insert(world.b, "[todo] T-4: from B")
    world.b.agents.blocks.detach("system_config", agent_id="worker")
    world.b.push()
    twin = tmp_path / "a-twin"
    shutil.copytree(world.a.path, twin, symlinks=True)

    world.a.pull()
    git(twin, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")

    assert git(twin, "rev-parse", "HEAD^{tree}") == git(world.a.path, "rev-parse", "HEAD^{tree}")
    assert_clean(twin)
    assert_clean(world.a.path)


def test_clone_installs_the_hooks_and_merge_driver(world: World) -> None:
    hooks = world.b.path / ".git/hooks"
    assert (hooks / "pre-commit").read_text().startswith("#!/bin/sh\n# gitmem-hook")
    assert "merge-driver %O %A %B %P" in git(world.b.path, "config", "merge.gitmem.driver")
    assert git(world.b.path, "config", "branch.main.remote") == "origin\n"
    assert world.b.remotes() == {"origin": str(world.remote)}
    assert_clean(world.b.path)


def test_clone_falls_back_to_main_when_the_remote_head_names_no_branch(
    world: World, tmp_path: Path
) -> None:
    git(world.remote, "symbolic-ref", "HEAD", "refs/heads/master")
    with gitmem.Client.clone(f"file://{world.remote}", tmp_path / "d") as d:
        assert git(d.path, "symbolic-ref", "HEAD") == "refs/heads/main\n"
        assert head(d.path) == git(world.remote, "rev-parse", "main").strip()


def test_clone_of_something_else_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    (other / "README.md").write_text("hello\n")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "readme")

    done = CliRunner().invoke(main, ["-C", str(tmp_path), "clone", "other", "mem"])

    assert done.exit_code == 1
    assert done.stderr == f"Error: {other} is not a gitmem store: it has no gitmem.yaml\n"
    assert not (tmp_path / "mem").exists()


def test_unrelated_histories_are_not_merged(world: World, tmp_path: Path) -> None:
    with gitmem.Client.init(tmp_path / "other", sample=True) as other:
        other.add_remote("origin", str(world.remote))
        with pytest.raises(gitmem.ValidationError) as refused:
            other.pull()
    assert str(refused.value) == (
        "origin/main has no history in common with this store; "
        "refusing to merge unrelated stores (clone it instead)"
    )


def test_push_refuses_the_checked_out_branch_of_a_store(world: World) -> None:
    world.b.add_remote("a", str(world.a.path))
    with pytest.raises(gitmem.ValidationError) as refused:
        world.b.push("a")
    assert str(refused.value) == (
        f"{world.a.path}: cannot push to refs/heads/main, it is checked out there; "
        "push to a bare repository (git init --bare), or pull from there"
    )


def test_push_without_pull_is_rejected_with_exit_3(world: World) -> None:
    insert(world.a, "[todo] T-3: from A")
    world.a.push()
    insert(world.b, "[todo] T-4: from B")

    done = cli(world.b.path, "push")

    assert done.exit_code == 3
    assert done.stderr == (
        "Error: push to origin/main rejected: it has commits this store has not merged; "
        "pull first (gitmem sync does both)\n"
    )


def test_cli_remote_add_and_list(client: gitmem.Client, tmp_path: Path) -> None:
    assert cli(client.path, "remote", "add", "backup", "ssh://host/srv/mem.git").exit_code == 0
    listed = cli(client.path, "remote", "list")
    assert listed.stdout == "backup\tssh://host/srv/mem.git\n"
    done = cli(client.path, "remote", "add", "Backup!", "x")
    assert done.exit_code == 1
    assert done.stderr == (
        "Error: invalid remote name 'Backup!': use lower-case letters, digits, '.', '_' and '-'\n"
    )
    done = cli(client.path, "pull")
    assert done.exit_code == 1
    assert done.stderr == (
        "Error: no remote to sync with; add one with 'gitmem remote add origin URL'\n"
    )


def run_on_a_terminal(*args: str) -> tuple[int, bytes]:
    """Run gitmem with its stderr on a pseudo-terminal; return its exit code and what it showed."""
    controller, terminal = os.openpty()
    done = subprocess.run(
        [sys.executable, "-m", "gitmem", *args], stdout=subprocess.DEVNULL, stderr=terminal
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: everything written has been read
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    return done.returncode, shown


def test_transfers_show_progress_on_a_terminal_unless_quiet(world: World, tmp_path: Path) -> None:
    code, shown = run_on_a_terminal("clone", str(world.remote), str(tmp_path / "d"))
    assert code == 0
    assert b"counting objects: " in shown
    assert shown.endswith(b"\n")  # a counter's open line is closed

    code, shown = run_on_a_terminal("clone", "--quiet", str(world.remote), str(tmp_path / "e"))
    assert (code, shown) == (0, b"")


# -- other transports ------------------------------------------------------------

FAKE_SSH = """#!/bin/sh
# A stand-in for ssh: run the git command (the last argument) on this machine.
# When RACE names a file, the first push first lets C push, so the remote
# moves between a sync's pull and its push.
for command; do :; done
case "$command" in
git-receive-pack*)
    if [ -e "$RACE" ]; then
        rm "$RACE"
        git -C "$C" push -q origin main
    fi
    ;;
esac
exec sh -c "$command"
"""


def test_sync_over_ssh_retries_a_push_the_remote_rejected(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssh = tmp_path / "fake-ssh"
    ssh.write_text(FAKE_SSH)
    ssh.chmod(0o755)
    race = tmp_path / "race"
    race.touch()
    monkeypatch.setenv("GIT_SSH_COMMAND", str(ssh))
    monkeypatch.setenv("RACE", str(race))
    monkeypatch.setenv("C", str(world.c))
    (world.c / ORG).write_text((world.c / ORG).read_text() + "Written in C.\n")
    git(world.c, "commit", "-q", "-am", "C writes")  # pushed by the stand-in ssh, mid-sync
    world.a.add_remote("viassh", f"ssh://localhost{world.remote}")
    insert(world.a, "[todo] T-3: from A")

    synced = world.a.sync("viassh")

    assert not race.exists()
    assert synced == Synced(
        (
            Pulled("viassh/main", "up to date"),
            Pulled("viassh/main", "merge", 1, ("organization",)),
        ),
        Pushed("viassh/main", True),
    )
    assert head(world.remote) == head(world.a.path)
    assert world.a.blocks.retrieve("organization").value.endswith("Written in C.")
    assert world.a.blocks.retrieve("task_queue").value.endswith("from A")
    assert_clean(world.a.path)


@pytest.fixture
def http_url(world: World) -> Iterator[str]:
    """The remote over smart HTTP, from dulwich's server on a free local port."""
    repo = Repo(str(world.remote))
    repos: dict[str, BackendRepo] = {"/": repo}
    server = make_server(
        "127.0.0.1",
        0,
        make_wsgi_chain(DictBackend(repos)),
        handler_class=WSGIRequestHandlerLogger,
        server_class=WSGIServerLogger,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join()
    repo.close()


def test_clone_pull_and_push_over_smart_http(world: World, http_url: str, tmp_path: Path) -> None:
    with gitmem.Client.clone(http_url, tmp_path / "d") as d:
        insert(world.a, "[todo] T-3: from A")
        world.a.push()
        insert(d, "[todo] T-4: from D")

        synced = d.sync()

        assert synced.pulls == (Pulled("origin/main", "merge", 1, ("task_queue",), (QUEUE,)),)
        assert synced.push == Pushed("origin/main", True)
        assert head(world.remote) == head(d.path)
        expected = f"{T1}\n[todo] T-4: from D\n[todo] T-3: from A"
        assert d.blocks.retrieve("task_queue").value == expected
        assert_clean(d.path)


# -- papercuts ---------------------------------------------------------------------


def test_a_first_push_names_the_branch_in_a_hub_whose_head_names_none(tmp_path: Path) -> None:
    hub = tmp_path / "hub.git"
    git(tmp_path, "-c", "init.defaultBranch=master", "init", "-q", "--bare", str(hub))
    with gitmem.Client.init(tmp_path / "a", sample=True) as a:
        assert cli(a.path, "remote", "add", "origin", str(hub)).exit_code == 0
        assert cli(a.path, "push").exit_code == 0

        assert git(hub, "symbolic-ref", "HEAD") == "refs/heads/main\n"
        git(tmp_path, "clone", "-q", str(hub), "c")
        assert (tmp_path / "c" / ORG).read_bytes() == (a.path / ORG).read_bytes()
        # The push made origin the upstream: plain git pull and status know it.
        assert git(a.path, "config", "branch.main.remote") == "origin\n"
        assert git(a.path, "config", "branch.main.merge") == "refs/heads/main\n"
        (tmp_path / "c" / ORG).write_text((tmp_path / "c" / ORG).read_text() + "From C.\n")
        git(tmp_path / "c", "commit", "-q", "-am", "C writes")
        git(tmp_path / "c", "push", "-q")
        git(a.path, "pull", "-q")
        assert a.blocks.retrieve("organization").value.endswith("From C.")
        assert_clean(a.path)


def test_a_hub_whose_head_names_a_branch_is_left_alone(world: World) -> None:
    git(world.remote, "symbolic-ref", "HEAD", "refs/heads/other")
    git(world.remote, "branch", "other", "main")
    insert(world.a, "[todo] T-3: from A")
    world.a.push()
    assert git(world.remote, "symbolic-ref", "HEAD") == "refs/heads/other\n"


@pytest.mark.parametrize("command", ["sync", "pull"])
def test_a_conflict_is_json_with_json(world: World, command: str) -> None:
    world.a.agents.memory("worker").memory_replace("task_queue", "[done] T-1", "[done, A] T-1")
    world.a.push()
    world.b.agents.memory("worker").memory_replace("task_queue", "[done] T-1", "[done, B] T-1")
    before = snapshot(world.b.path)

    done = cli(world.b.path, command, "--json")

    summary = (
        "pull from origin/main: 1 file(s) conflict with changes made here; nothing was "
        "changed (pull again with --strategy ours|theirs, or change one side and sync)"
    )
    assert (done.exit_code, done.stderr) == (3, f"Error: {summary}\n")
    assert json.loads(done.stdout) == {
        "error": summary,
        "conflicts": [
            {
                "path": QUEUE,
                "where": "value line 1",
                "base": T1,
                "ours": "[done, B] T-1: Summarise last week's support tickets",
                "theirs": "[done, A] T-1: Summarise last week's support tickets",
            }
        ],
    }
    assert snapshot(world.b.path) == before


def test_a_rejected_push_is_json_with_json(world: World) -> None:
    insert(world.a, "[todo] T-3: from A")
    world.a.push()
    insert(world.b, "[todo] T-4: from B")

    done = cli(world.b.path, "push", "--json")

    message = (
        "push to origin/main rejected: it has commits this store has not merged; "
        "pull first (gitmem sync does both)"
    )
    assert (done.exit_code, done.stderr) == (3, f"Error: {message}\n")
    assert json.loads(done.stdout) == {"error": message, "conflicts": []}


def test_a_pulled_block_whose_file_collides_with_ours_is_refused(world: World) -> None:
    """Ids are lower case, so case twins (``Notes.md``) are refused as bad ids; a
    path that needs our block's file as its directory is refused as a clash."""
    world.a.blocks.create(label="x", id="x")
    world.b.blocks.create(label="y", id="x.md/y")
    world.b.push()
    before = snapshot(world.a.path)

    with pytest.raises(gitmem.ValidationError) as refused:
        world.a.pull()

    assert str(refused.value).split("\n")[:2] == [
        "pull from origin/main refused; nothing was changed here:",
        "blocks/x.md/y.md:1: blocks/x.md/y.md needs a directory blocks/x.md/ where the "
        f"file of block 'x' is (from commit {head(world.b.path)[:12]} by Pat Person "
        "<pat@example.com>)",
    ]
    assert snapshot(world.a.path) == before
    assert world.a.blocks.retrieve("x").label == "x"


def test_a_block_replaced_by_a_directory_of_that_name_arrives(world: World) -> None:
    """Not a clash: the same change deletes block ``x``, whose file was in the way."""
    world.a.blocks.create(label="x", id="x")
    world.a.push()
    world.b.pull()
    world.b.blocks.delete("x")
    world.b.blocks.create(label="y", id="x.md/y")
    world.b.push()

    assert world.a.pull().how == "fast-forward"

    assert [b.id for b in world.a.blocks.list() if b.id.startswith("x")] == ["x.md/y"]
    assert_clean(world.a.path)
