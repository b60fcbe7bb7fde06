"""Files people change on disk: saved the ways editors save, then `gitmem status`,
`gitmem commit` and `gitmem edit`, against real stores and the real git binary."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, Protocol

import pytest
from click.testing import CliRunner, Result
from dulwich.index import IndexEntry
from dulwich.objects import ObjectID

import gitmem
from gitmem.cli import main
from gitmem.git import checkout
from gitmem.git.index import entry_for
from gitmem.ops.store import Store
from gitmem.ops.worktree import commit_changed, status
from tests.conftest import PERSON, assert_clean, git
from tests.vim import Vim, needs_vim

ORG = "blocks/organization.md"
HOURS = "Support hours: 08:00-18:00 CET"


def cli(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), *args])


def head(store: Path) -> str:
    return git(store, "rev-parse", "HEAD").strip()


P = ParamSpec("P")


def before(fn: Callable[P, None], first: Callable[[], None]) -> Callable[P, None]:
    """``fn``, running ``first`` before each call: a moment chosen for a real save."""

    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        first()
        fn(*args, **kwargs)

    return run


class Editor(Protocol):
    """The ``editor`` fixture: $EDITOR plays ``steps``, one each time it is opened."""

    def __call__(self, *steps: dict[str, object]) -> Path: ...


# -- the ways editors save ------------------------------------------------------


def in_place(path: Path, old: str, new: str) -> None:
    text = path.read_text().replace(old, new)
    with open(path, "r+") as f:  # truncate, then write: one inode throughout
        f.truncate(0)
        f.write(text)


def atomic(path: Path, old: str, new: str) -> None:
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_text(path.read_text().replace(old, new))
    os.replace(tmp, path)


def with_sed(path: Path, old: str, new: str) -> None:
    subprocess.run(["sed", "-i", f"s/{old}/{new}/", str(path)], check=True)


def like_vim(path: Path, old: str, new: str) -> None:
    text = path.read_text().replace(old, new)
    (path.parent / "4913").write_text("")  # vim's probe: may it create files here?
    (path.parent / "4913").unlink()
    backup = path.with_name(path.name + "~")
    os.rename(path, backup)
    path.write_text(text)
    backup.unlink()


@pytest.mark.parametrize("save", [in_place, atomic, with_sed, like_vim])
def test_an_edit_saved_the_way_editors_save_is_committed_by_the_person(
    sample: gitmem.Client, save: Callable[[Path, str, str], None]
) -> None:
    store = sample.path
    save(store / ORG, "08:00-18:00", "09:00-17:00")

    assert cli(store, "status").stdout == f"modified\t{ORG}\tvalid\n"
    done = cli(store, "commit", "-m", "Shorter support hours")

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    assert "Support hours: 09:00-17:00 CET" in sample.blocks.retrieve("organization").value
    log = git(store, "log", "-1", "--format=%an <%ae>|%s|%(trailers:only,unfold,separator=;)")
    assert log == (
        f"{PERSON[0]} <{PERSON[1]}>|Shorter support hours|"
        "Gitmem-Op: commit;Gitmem-Block: organization\n"
    )
    assert cli(store, "status").stdout == ""
    assert_clean(store)


def test_editor_temp_and_backup_files_are_never_taken_for_blocks(sample: gitmem.Client) -> None:
    blocks = sample.path / "blocks"
    for name in (".organization.md.swp", "organization.md~", "4913", "#organization.md#"):
        (blocks / name).write_text("---\nnot: a block\n")
    (blocks / ".#organization.md").symlink_to("pat@host.1234")  # emacs' lock file

    assert cli(sample.path, "status").stdout == ""
    assert cli(sample.path, "commit").stdout == "nothing to commit\n"
    assert git(sample.path, "rev-list", "--count", "HEAD") == "1\n"


# -- invalid saves ----------------------------------------------------------------

INVALID = {
    "bad YAML": (
        b"---\nlabel: [organization\n---\nx\n",
        "blocks/organization.md:2: invalid YAML: did not find expected ',' or ']'",
    ),
    "unknown key": (
        b"---\nlabel: organization\nreadonly: true\n---\nx\n",
        "blocks/organization.md:3: unknown key 'readonly' "
        "(allowed: label, description, limit, read_only, metadata)",
    ),
    "over limit": (
        b"---\nlabel: organization\nlimit: 10\n---\nAcme Robotics builds robots.\n",
        "blocks/organization.md:5: value is too long: 28 characters requested, 10 allowed",
    ),
    "not UTF-8": (
        b"---\nlabel: organization\n---\ncaf\xe9\n",
        "blocks/organization.md:4: not valid UTF-8 (byte 0xe9)",
    ),
}


@pytest.mark.parametrize("case", INVALID)
def test_an_invalid_save_is_refused_with_file_and_line_and_left_as_written(
    sample: gitmem.Client, case: str
) -> None:
    data, message = INVALID[case]
    before, value = head(sample.path), sample.blocks.retrieve("organization").value
    (sample.path / ORG).write_bytes(data)

    assert cli(sample.path, "status").stdout == f"modified\t{ORG}\t{message}\n"
    done = cli(sample.path, "commit")

    assert done.exit_code == 1
    assert done.stderr == (
        f"{message}\nError: 1 file(s) not committed; fix them and commit again\n"
    )
    assert (sample.path / ORG).read_bytes() == data
    assert head(sample.path) == before
    assert sample.blocks.retrieve("organization").value == value  # agents read the last valid


def test_valid_files_are_committed_together_while_an_invalid_one_is_refused(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    atomic(store / ORG, "08:00-18:00", "09:00-17:00")
    (store / "blocks/notes.md").write_text("---\nlabel: notes\n---\nfirst note\n")
    (store / "blocks/task_queue.md").write_text("---\nlabel: task_queue\nlimit: 5\n---\ntoo long\n")

    done = cli(store, "commit")

    assert done.exit_code == 1
    assert done.stdout == "committed blocks/notes.md, blocks/organization.md\n"
    assert done.stderr.startswith(
        "blocks/task_queue.md:5: value is too long: 8 characters requested, 5 allowed\n"
    )
    assert git(store, "log", "-1", "--format=%s") == "commit: notes, organization\n"
    assert sample.blocks.retrieve("notes").value == "first note"
    assert git(store, "status", "--porcelain") == " M blocks/task_queue.md\n"


# -- merging with what the branch got meanwhile ---------------------------------


def test_an_agent_insert_while_a_person_edit_is_uncommitted_keeps_both(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    in_place(store / ORG, HOURS, "Support hours: 09:00-17:00 CET")
    sample.agents.memory("worker").memory_insert("organization", "Refunds go through Maria.")

    assert "09:00-17:00" in (store / ORG).read_text()  # the agent's commit left it alone
    assert "Refunds go through Maria." not in (store / ORG).read_text()
    done = cli(store, "commit")

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    value = sample.blocks.retrieve("organization").value
    assert "Support hours: 09:00-17:00 CET" in value
    assert value.endswith("\nRefunds go through Maria.")
    assert (store / ORG).read_text().endswith("Refunds go through Maria.\n")
    assert_clean(store)


@pytest.mark.slow
def test_several_commits_from_other_processes_while_an_edit_waits_all_survive(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    atomic(store / ORG, HOURS, "Support hours: 09:00-17:00 CET")
    for fact in ("First fact.", "Second fact."):
        insert = agent_cli(store, "memory", "insert", "worker", "organization", fact)
        subprocess.run(insert, check=True, capture_output=True)
    sample.blocks.update("organization", description="Company facts.")

    done = cli(store, "commit")

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    org = sample.blocks.retrieve("organization")
    assert org.description == "Company facts."
    assert "09:00-17:00" in org.value and org.value.endswith("\nFirst fact.\nSecond fact.")
    assert_clean(store)


INSERTS = """
import sys, gitmem
with gitmem.Client(sys.argv[1]) as client:
    memory = client.agents.memory("supervisor")
    for i in range(60):
        memory.memory_insert("task_queue", f"line {i}")
"""


@pytest.mark.slow
def test_commits_of_disk_changes_during_another_process_s_operations_change_nothing(
    sample: gitmem.Client,
) -> None:
    # What a watcher does: commit a block file as soon as it changes on disk,
    # here while another process's operations are between moving the branch
    # and writing that very file. Their files must not be taken for a person's.
    writer = subprocess.Popen([sys.executable, "-c", INSERTS, str(sample.path)])
    while writer.poll() is None:
        sample.commit(["blocks/task_queue.md"])
    assert writer.returncode == 0

    assert git(sample.path, "log", "--format=%s", "--grep=Gitmem-Op: commit") == ""
    lines = sample.blocks.retrieve("task_queue").value.split("\n")
    assert [line for line in lines if line.startswith("line ")] == [f"line {i}" for i in range(60)]
    assert_clean(sample.path)


def test_a_save_landing_while_the_previous_save_is_committed_is_not_taken_for_committed(
    sample: gitmem.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A person (or an agent told of the commit by a watcher) saves again at the
    # moment the commit of the previous save records the file in the index.
    # The save is made for real; only its moment is chosen, by running it just
    # before the index entry's stat is taken.
    path = sample.path / ORG
    atomic(path, "08:00-18:00", "09:00-17:00")
    saved: list[str] = []

    def save_again_first(name: str, sha: ObjectID) -> IndexEntry:
        if name == str(path) and not saved:
            saved.append(name)
            atomic(path, "09:00-17:00", "10:00-16:00")
            # Older than the index about to be written, as after a few ms (or
            # a copy that keeps times): git's racy-file check does not catch it.
            past = os.stat(path).st_mtime - 10
            os.utime(path, (past, past))
        return entry_for(name, sha)

    monkeypatch.setattr(checkout, "entry_for", save_again_first)
    assert sample.commit().committed == (ORG,)

    assert saved == [str(path)]
    assert [(s.path, s.change) for s in sample.status()] == [(ORG, "modified")]
    assert sample.commit().committed == (ORG,)
    assert "Support hours: 10:00-16:00 CET" in sample.blocks.retrieve("organization").value
    assert_clean(sample.path)


def test_a_conflicting_pair_exits_3_and_keeps_both_versions(sample: gitmem.Client) -> None:
    store = sample.path
    in_place(store / ORG, "08:00-18:00", "09:00-17:00")
    mine = (store / ORG).read_bytes()
    sample.agents.memory("worker").memory_replace("organization", "08:00-18:00", "07:00-19:00")
    before = head(store)

    done = cli(store, "commit")

    assert done.exit_code == 3
    assert done.stderr == (
        f"{ORG}: conflict in value line 1:\n"
        "  base:   Acme Robotics builds warehouse robots. "
        "Support hours: 08:00-18:00 CET, Monday to Friday.\n"
        "  yours:  Acme Robotics builds warehouse robots. "
        "Support hours: 09:00-17:00 CET, Monday to Friday.\n"
        "  branch: Acme Robotics builds warehouse robots. "
        "Support hours: 07:00-19:00 CET, Monday to Friday.\n"
        "Error: 1 file(s) not committed: they conflict with changes made meanwhile; your files "
        "are as you left them (resolve, or use --strategy ours|theirs)\n"
    )
    assert (store / ORG).read_bytes() == mine
    assert head(store) == before
    assert "07:00-19:00" in sample.blocks.retrieve("organization").value

    resolved = cli(store, "commit", "--strategy", "ours")
    assert (resolved.exit_code, resolved.stdout) == (0, f"committed {ORG}\n")
    assert "09:00-17:00" in sample.blocks.retrieve("organization").value
    assert_clean(store)


def test_a_file_staged_with_git_add_is_committed_over_a_moved_branch(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    atomic(store / ORG, "08:00-18:00", "09:00-17:00")
    git(store, "add", ORG)
    sample.agents.memory("worker").memory_insert("organization", "Refunds go through Maria.")

    done = cli(store, "commit")

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    value = sample.blocks.retrieve("organization").value
    assert "09:00-17:00" in value and value.endswith("Refunds go through Maria.")
    assert_clean(store)


def test_staged_false_leaves_a_change_staged_as_it_is_on_disk_to_git(
    sample: gitmem.Client,
) -> None:
    # What a watcher sees while git merges or checks out: files and index
    # already new, the branch not yet moved.
    store = sample.path
    atomic(store / ORG, "08:00-18:00", "09:00-17:00")
    atomic(store / "blocks/task_queue.md", "[done]", "[todo]")
    git(store, "add", ORG)

    watcher_like = Store.open(store)
    try:
        unstaged = tuple(s.path for s in status(watcher_like, staged=False))
        committed = commit_changed(watcher_like, staged=False).committed
    finally:
        watcher_like.close()

    assert unstaged == committed == ("blocks/task_queue.md",)
    assert git(store, "status", "--porcelain") == f"M  {ORG}\n"


def test_files_git_writes_under_its_index_lock_are_not_a_persons_save(
    sample: gitmem.Client,
) -> None:
    # What a watcher may see in the middle of `git checkout OLD`: files already
    # old, index not yet, HEAD still on the branch. Committed, they would take
    # agents' writes back out of the branch.
    store = sample.path
    before = git(store, "rev-parse", "HEAD")
    atomic(store / ORG, "08:00-18:00", "09:00-17:00")
    (store / ".git/index.lock").write_text("")

    done = cli(store, "commit")

    assert (done.exit_code, done.stderr) == (
        3,
        "Error: git is changing the files (checkout, merge, reset...); run again\n",
    )
    assert git(store, "rev-parse", "HEAD") == before
    (store / ".git/index.lock").unlink()
    assert cli(store, "commit").stdout == f"committed {ORG}\n"


# -- editors holding a file, and buffers older than the file ----------------------

AGENT_LINE = "Refunds go through Maria."


@needs_vim
def test_a_block_open_in_vim_is_left_to_vim_and_its_save_keeps_the_agent_line(
    sample: gitmem.Client, tmp_path: Path
) -> None:
    store = sample.path
    before = (store / ORG).read_bytes()
    with Vim(store / ORG, tmp_path, "%s/08:00-18:00/09:00-17:00/", "wq") as vim:
        sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
        sample.agents.memory("supervisor").memory_insert("organization", "Second line.")

        assert (store / ORG).read_bytes() == before  # not rewritten under vim
        assert git(store, "status", "--porcelain") == f" M {ORG}\n"  # nothing staged

        assert vim.wait() == 0  # vim saw no change on disk: it wrote without asking

    done = cli(store, "commit")

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    value = sample.blocks.retrieve("organization").value
    assert "Support hours: 09:00-17:00 CET" in value
    assert value.endswith(f"\n{AGENT_LINE}\nSecond line.")
    assert (store / ORG).read_text().endswith(f"{AGENT_LINE}\nSecond line.\n")
    assert_clean(store)


@needs_vim
def test_vim_without_a_swap_file_saving_over_an_agent_write_keeps_it(
    sample: gitmem.Client, tmp_path: Path
) -> None:
    store = sample.path
    edit = "%s/08:00-18:00/09:00-17:00/"
    # vim warns that the file changed since it was read; the person saves anyway
    with Vim(store / ORG, tmp_path, edit, "w", swap=False, answers="y\n") as vim:
        assert not vim.swap.exists()
        sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
        assert (store / ORG).read_text().endswith(f"{AGENT_LINE}\n")  # nothing held it

        assert vim.wait() == 0
    assert AGENT_LINE not in (store / ORG).read_text()  # vim wrote its buffer over it

    done = cli(store, "commit")

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    value = sample.blocks.retrieve("organization").value
    assert "Support hours: 09:00-17:00 CET" in value and value.endswith(f"\n{AGENT_LINE}")
    assert_clean(store)


@needs_vim
def test_a_block_open_in_vim_is_brought_up_to_date_once_vim_quits_without_saving(
    sample: gitmem.Client, tmp_path: Path
) -> None:
    store = sample.path
    with Vim(store / ORG, tmp_path, "q") as vim:
        sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
        assert vim.wait() == 0

    assert cli(store, "commit").stdout == "nothing to commit\n"
    assert (store / ORG).read_text().endswith(f"{AGENT_LINE}\n")
    assert_clean(store)


@needs_vim
def test_a_swap_file_left_by_a_killed_vim_does_not_hold_the_block(
    sample: gitmem.Client, tmp_path: Path
) -> None:
    store = sample.path
    with Vim(store / ORG, tmp_path) as vim:
        vim.proc.kill()
        vim.proc.wait()
    assert vim.swap.exists()

    sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)

    assert (store / ORG).read_text().endswith(f"{AGENT_LINE}\n")
    assert_clean(store)  # the swap file is ignored (.gitignore)


def dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", ""])
    done.wait()
    return done.pid


def swap_file(editor: bytes, pid: int, file: Path) -> bytes:
    """The first block of a vim swap file (nano and neovim write the same)."""
    block = bytearray(4096)
    block[0:2] = b"b0"
    block[2 : 2 + len(editor)] = editor
    block[24:28] = pid.to_bytes(4, "little")
    block[28:32] = b"pat"
    host = socket.gethostname().encode()
    block[68 : 68 + len(host)] = host
    block[108 : 108 + len(bytes(file))] = bytes(file)
    return bytes(block)


def lock_like_nano(store: Path, pid: int, tmp_path: Path) -> None:
    (store / "blocks/.organization.md.swp").write_bytes(swap_file(b"nano 7.2", pid, store / ORG))


def lock_like_neovim(store: Path, pid: int, tmp_path: Path) -> None:
    # neovim keeps swap files in $XDG_STATE_HOME/nvim/swap, named by the full path
    swap = tmp_path / "state/nvim/swap" / (str(store / ORG).replace("/", "%") + ".swp")
    swap.parent.mkdir(parents=True)
    swap.write_bytes(swap_file(b"VIM 0.9.5", pid, store / ORG))


def lock_like_emacs(store: Path, pid: int, tmp_path: Path) -> None:
    # a symlink .#name -> user@host.pid:boot-time
    target = f"pat@{socket.gethostname()}.{pid}:1764000000"
    (store / "blocks/.#organization.md").symlink_to(target)


@pytest.mark.parametrize("live", [True, False], ids=["live", "dead"])
@pytest.mark.parametrize("lock", [lock_like_nano, lock_like_neovim, lock_like_emacs])
def test_an_editor_lock_holds_the_block_while_its_process_lives(
    sample: gitmem.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lock: Callable[[Path, int, Path], None],
    live: bool,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    store = sample.path
    before = (store / ORG).read_bytes()
    lock(store, os.getpid() if live else dead_pid(), tmp_path)

    sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)

    assert ((store / ORG).read_bytes() == before) is live
    for left in [*(store / "blocks").glob(".*organization*"), *tmp_path.glob("state/nvim/*/*")]:
        left.unlink()  # the editor quits
    assert cli(store, "commit").stdout == "nothing to commit\n"
    assert (store / ORG).read_text().endswith(f"{AGENT_LINE}\n")
    assert_clean(store)


@needs_vim
def test_plain_git_committing_a_block_vim_holds_is_refused_until_merged(
    sample: gitmem.Client, tmp_path: Path
) -> None:
    store = sample.path
    with Vim(store / ORG, tmp_path, "q"):
        sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
        before = head(store)

        done = subprocess.run(["git", "commit", "-qam", "x"], cwd=store, capture_output=True)

        assert done.returncode == 1
        assert done.stderr.decode().startswith(
            f"{ORG}: your copy started from an older version than the branch: "
            f"{before[:7]} (memory_insert by worker) changed it since, and committing your "
            f"copy would undo that; merge them with: gitmem commit {ORG}\n"
        )
        assert head(store) == before


@pytest.mark.parametrize("save", [in_place, atomic])
def test_a_buffer_loaded_before_an_agent_write_is_merged_from_what_it_loaded(
    sample: gitmem.Client, save: Callable[[Path, str, str], None]
) -> None:
    # An editor without a lock file (most GUI editors, autosave) keeps the text
    # it loaded and saves it, with the person's change, over the agent's write;
    # then saves again from the same buffer after gitmem rewrote the file.
    store = sample.path
    buffer = (store / ORG).read_text()
    sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
    assert (store / ORG).read_text().endswith(f"{AGENT_LINE}\n")

    for hours in ("09:00-17:00", "10:00-16:00"):
        (store / ORG).write_text(buffer)
        save(store / ORG, "08:00-18:00", hours)
        done = cli(store, "commit")

        assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
        value = sample.blocks.retrieve("organization").value
        assert f"Support hours: {hours} CET" in value
        assert value.endswith(f"\n{AGENT_LINE}") and value.count(AGENT_LINE) == 1
        assert_clean(store)


def test_a_save_landing_while_the_one_before_is_committed_is_merged_from_that_one(
    sample: gitmem.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reproduction 9 step by step: an editor's buffer without the agent's line
    # is saved, and saved again just as gitmem commits the first save (the
    # save is made for real; only its moment is chosen). The second save must
    # be merged from the first, not from the commit that added the agent's line.
    path = sample.path / ORG
    buffer = path.read_text()
    sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
    path.write_text(buffer.replace("08:00-18:00", "09:00-17:00"))

    def save_again() -> None:
        if "10:00" not in path.read_text():
            path.write_text(buffer.replace("08:00-18:00", "10:00-16:00"))

    claim = before(checkout.Checkout._sync_claimed, save_again)
    monkeypatch.setattr(checkout.Checkout, "_sync_claimed", claim)
    assert sample.commit().committed == (ORG,)
    assert "09:00-17:00" in sample.blocks.retrieve("organization").value
    monkeypatch.undo()

    assert sample.commit().committed == (ORG,)

    value = sample.blocks.retrieve("organization").value
    assert "Support hours: 10:00-16:00 CET" in value
    assert value.endswith(f"\n{AGENT_LINE}") and value.count(AGENT_LINE) == 1
    assert_clean(sample.path)


def test_a_save_equal_to_a_version_gitmem_replaced_is_taken_as_a_stale_buffer(
    sample: gitmem.Client,
) -> None:
    # What content alone cannot tell (see worktree.derived_from): deleting
    # exactly the agent's new line looks like saving the buffer from before it.
    store = sample.path
    before = (store / ORG).read_text()
    sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
    in_place(store / ORG, f"{AGENT_LINE}\n", "")
    assert (store / ORG).read_text() == before

    assert cli(store, "commit").stdout == "nothing to commit\n"

    assert sample.blocks.retrieve("organization").value.endswith(f"\n{AGENT_LINE}")
    assert (store / ORG).read_text().endswith(f"{AGENT_LINE}\n")
    assert_clean(store)


def test_a_save_from_the_current_file_still_deletes_a_line(sample: gitmem.Client) -> None:
    store = sample.path
    sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
    in_place(
        store / ORG, "Escalations go to the supervisor; refunds above 500 EUR need a human.\n", ""
    )

    assert cli(store, "commit").exit_code == 0

    value = sample.blocks.retrieve("organization").value
    assert "Escalations" not in value and value.endswith(f"\n{AGENT_LINE}")
    assert_clean(store)


@pytest.mark.parametrize("copied", [False, True])
def test_a_person_s_append_and_an_agent_s_append_are_both_committed(
    sample: gitmem.Client, copied: bool
) -> None:
    # Reproduction 5: the person edits line 2 and appends while an agent
    # appends; then (copied) the person copies the agent's line into the file.
    store = sample.path
    in_place(store / ORG, "Escalations go to the supervisor", "Escalations go to Maria")
    with open(store / ORG, "a") as f:
        f.write("Person appended.\n")
    sample.agents.memory("worker").memory_insert("organization", AGENT_LINE)
    if copied:
        with open(store / ORG, "a") as f:
            f.write(f"{AGENT_LINE}\n")

    done = cli(store, "commit")

    assert (done.exit_code, done.stdout, done.stderr) == (0, f"committed {ORG}\n", "")
    value = sample.blocks.retrieve("organization").value
    assert value.split("\n")[1:] == [
        "Escalations go to Maria; refunds above 500 EUR need a human.",
        "Agents: supervisor (plans and assigns work), worker (does the tasks).",
        "Person appended.",
        AGENT_LINE,
    ]
    assert_clean(store)


# -- new, deleted and related files ----------------------------------------------


def test_new_files_make_blocks_and_deleted_files_delete_them_unless_attached(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    (store / "blocks/team/notes.md").parent.mkdir()
    (store / "blocks/team/notes.md").write_text("---\nlabel: notes\n---\nhello\n")
    (store / "blocks/handoff_context.md").unlink()
    sample.agents.blocks.detach("user_preferences", agent_id="supervisor")
    (store / "blocks/user_preferences.md").unlink()

    assert cli(store, "status").stdout == (
        "deleted\tblocks/handoff_context.md\tblocks/handoff_context.md: deleted, but attached to "
        "supervisor, worker; detach it first (or restore the file)\n"
        "new\tblocks/team/notes.md\tvalid\n"
        "deleted\tblocks/user_preferences.md\tvalid\n"
    )
    done = cli(store, "commit")

    assert done.exit_code == 1
    assert done.stdout == "committed blocks/team/notes.md, blocks/user_preferences.md\n"
    assert sample.blocks.retrieve("team/notes").value == "hello"
    assert [b.id for b in sample.blocks.list(label="user_preferences")] == []
    assert sample.blocks.retrieve("handoff_context")  # still there for its agents


def test_a_manifest_edit_attaches_and_labels_stay_unique_per_agent(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    manifest = store / "agents/worker.yaml"
    atomic(manifest, "- system_config\n", "- system_config\n- user_preferences\n")
    atomic(store / "blocks/worker/persona.md", "label: persona", "label: organization")

    done = cli(store, "commit")

    assert done.exit_code == 1
    assert done.stdout == "committed agents/worker.yaml\n"
    assert done.stderr.startswith(
        "blocks/worker/persona.md:2: in agent 'worker', blocks 'worker/persona' and "
        "'organization' are both labelled 'organization'; labels must be unique per agent\n"
    )
    assert sample.agents.retrieve("worker").block_ids[-1] == "user_preferences"


def test_only_the_given_paths_are_committed(
    sample: gitmem.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sample.path
    atomic(store / ORG, "08:00-18:00", "09:00-17:00")
    atomic(store / "blocks/task_queue.md", "[done]", "[todo]")
    monkeypatch.chdir(store / "blocks")

    done = CliRunner().invoke(main, ["commit", "organization.md"])

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    assert git(store, "status", "--porcelain") == " M blocks/task_queue.md\n"
    outside = CliRunner().invoke(main, ["commit", str(tmp_path)])
    assert outside.exit_code == 2
    assert f"{tmp_path} is outside the store {store}" in outside.stderr


# -- gitmem edit --------------------------------------------------------------------

EDITOR = """
import json, os, pathlib, subprocess, sys
plan = pathlib.Path(os.environ["EDITOR_PLAN"])
steps = json.loads((plan / "plan.json").read_text())
n = len(list(plan.glob("seen-*.md")))
target = pathlib.Path(sys.argv[1])
text = target.read_text()
(plan / f"seen-{n}.md").write_text(text)
step = steps[n]
if "run" in step:
    subprocess.run(step["run"], check=True)
if "replace" in step:
    text = text.replace(*step["replace"])
if "write" in step:
    text = step["write"]
if step.get("save", True):
    target.write_text(text)
sys.exit(step.get("exit", 0))
"""


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Editor:
    """Set $EDITOR to a script that plays the given steps, one per time it is opened;
    what it was shown is kept as seen-<n>.md in the returned directory."""
    plan = tmp_path / "editor"
    plan.mkdir()
    (plan / "editor.py").write_text(EDITOR)
    monkeypatch.setenv("EDITOR", f"{shlex.quote(sys.executable)} {plan / 'editor.py'}")
    monkeypatch.setenv("EDITOR_PLAN", str(plan))

    def play(*steps: dict[str, object]) -> Path:
        (plan / "plan.json").write_text(json.dumps(steps))
        return plan

    return play


def agent_cli(store: Path, *args: str) -> list[str]:
    """A command line running gitmem in another process, as an agent would."""
    return [sys.executable, "-m", "gitmem", "-C", str(store), *args]


def agent_replaces_hours(store: Path) -> list[str]:
    """An agent's change, run while the editor is open, that conflicts with the person's."""
    return agent_cli(
        store, "memory", "replace", "worker", "organization", "08:00-18:00", "07:00-19:00"
    )


def test_edit_commits_the_saved_block_as_the_person(sample: gitmem.Client, editor: Editor) -> None:
    editor({"replace": ["08:00-18:00", "09:00-17:00"]})

    done = cli(sample.path, "edit", "organization")

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    assert "09:00-17:00" in sample.blocks.retrieve("organization").value
    assert git(sample.path, "log", "-1", "--format=%an|%s") == f"{PERSON[0]}|edit: organization\n"
    assert list((sample.path / ".git/gitmem/edits").iterdir()) == []
    assert_clean(sample.path)


def test_edit_merges_with_a_change_made_while_the_editor_was_open(
    sample: gitmem.Client, editor: Editor
) -> None:
    insert = agent_cli(sample.path, "memory", "insert", "worker", "organization", "New fact.")
    editor({"run": insert, "replace": ["08:00-18:00", "09:00-17:00"]})

    done = cli(sample.path, "edit", "organization")

    assert done.exit_code == 0
    value = sample.blocks.retrieve("organization").value
    assert "09:00-17:00" in value and value.endswith("\nNew fact.")
    assert_clean(sample.path)


def test_edit_gives_up_when_the_editor_fails_and_keeps_the_copy(
    sample: gitmem.Client, editor: Editor
) -> None:
    editor({"replace": ["08:00-18:00", "09:00-17:00"], "exit": 1})  # as vim's :cq

    done = cli(sample.path, "edit", "organization")

    assert done.exit_code == 1
    (copy,) = (sample.path / ".git/gitmem/edits").iterdir()
    failed, gave_up = done.stderr.splitlines()
    assert failed.endswith("editor.py: Editing failed")
    assert gave_up == f"Error: edit abandoned; your version is kept in {copy}"
    assert "09:00-17:00" in copy.read_text()
    assert "08:00-18:00" in sample.blocks.retrieve("organization").value


def test_edit_reopens_a_conflict_with_markers_and_giving_up_keeps_the_copy(
    sample: gitmem.Client, editor: Editor
) -> None:
    replace = agent_replaces_hours(sample.path)
    plan = editor({"run": replace, "replace": ["08:00-18:00", "09:00-17:00"]}, {"save": False})

    done = cli(sample.path, "edit", "organization")

    assert done.exit_code == 3
    (copy,) = (sample.path / ".git/gitmem/edits").iterdir()
    assert done.stderr == f"Error: edit abandoned; your version is kept in {copy}\n"
    shown = (plan / "seen-1.md").read_text()
    assert shown.startswith(
        "---\n"
        f"# gitmem: {ORG} changed while you edited it, and your edit conflicts with that:\n"
        "# gitmem: resolve each <<<<<<< yours ... >>>>>>> theirs section, then save and quit.\n"
        "# gitmem: (quit without saving to give up; your edit is kept)\n"
        "label: organization\n"
    )
    assert (
        "\n<<<<<<< yours\n"
        "Acme Robotics builds warehouse robots. Support hours: 09:00-17:00 CET, Monday to Friday.\n"
        "=======\n"
        "Acme Robotics builds warehouse robots. Support hours: 07:00-19:00 CET, Monday to Friday.\n"
        ">>>>>>> theirs\n"
    ) in shown
    assert copy.read_text() == shown
    assert "07:00-19:00" in sample.blocks.retrieve("organization").value


def test_edit_commits_a_resolved_conflict(sample: gitmem.Client, editor: Editor) -> None:
    replace = agent_replaces_hours(sample.path)
    plan = editor(
        {"run": replace, "replace": ["08:00-18:00", "09:00-17:00"]},
        {"write": "---\nlabel: organization\n---\nSupport hours: 08:00-20:00 CET.\n"},
    )

    done = cli(sample.path, "edit", "organization")

    assert (done.exit_code, done.stdout) == (0, f"committed {ORG}\n")
    assert "<<<<<<< yours" in (plan / "seen-1.md").read_text()
    assert sample.blocks.retrieve("organization").value == "Support hours: 08:00-20:00 CET."
    assert_clean(sample.path)


def test_edit_refuses_a_half_resolved_conflict(sample: gitmem.Client, editor: Editor) -> None:
    """Reproduction 11: a leftover ``<<<<<<< yours`` line is not committed."""
    replace = agent_replaces_hours(sample.path)
    plan = editor(
        {"run": replace, "replace": ["08:00-18:00", "09:00-17:00"]},
        {"write": "---\nlabel: organization\n---\n<<<<<<< yours\nSupport hours: 08:00-20:00\n"},
        {"save": False},
    )

    done = cli(sample.path, "edit", "organization")

    assert done.exit_code == 3
    assert (
        (plan / "seen-2.md")
        .read_text()
        .startswith(
            "---\n# gitmem: your edit was not saved: blocks/organization.md:4: unresolved "
            "conflict (<<<<<<< ... >>>>>>> lines); resolve it first\n"
        )
    )
    assert "07:00-19:00" in sample.blocks.retrieve("organization").value


def test_edit_reopens_an_invalid_save_and_giving_up_keeps_the_copy(
    sample: gitmem.Client, editor: Editor
) -> None:
    before = head(sample.path)
    plan = editor({"replace": ["read_only: false", "readonly: false"]}, {"save": False})

    done = cli(sample.path, "edit", "organization")

    assert done.exit_code == 1
    shown = (plan / "seen-1.md").read_text()
    assert shown.startswith(
        "---\n# gitmem: your edit was not saved: blocks/organization.md:5: unknown key "
        "'readonly' (allowed: label, description, limit, read_only, metadata)\n"
    )
    (copy,) = (sample.path / ".git/gitmem/edits").iterdir()
    assert done.stderr == f"Error: edit abandoned; your version is kept in {copy}\n"
    assert "readonly: false" in copy.read_text()
    assert head(sample.path) == before


def test_edit_without_changes_commits_nothing(sample: gitmem.Client, editor: Editor) -> None:
    editor({"save": False})
    done = cli(sample.path, "edit", "organization")
    assert (done.exit_code, done.stdout) == (0, "no changes\n")
    assert git(sample.path, "rev-list", "--count", "HEAD") == "1\n"
