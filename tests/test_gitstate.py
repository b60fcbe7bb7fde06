"""Git's states are not errors: with HEAD detached, on another branch, or a rebase,
merge or bisect waiting for the person, agents go on with the store's branch and
leave the index and working tree to the person; `gitmem status` says the state,
and what needs the working tree says what to do first. The real git binary makes
each state."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import gitmem
import gitmem.git.checkout
from gitmem.cli import main
from tests.conftest import assert_clean, git

ORG = "blocks/organization.md"
QUEUE = "blocks/task_queue.md"


def cli(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), *args])


def rev(store: Path, spec: str = "HEAD") -> str:
    return git(store, "rev-parse", spec).strip()


def subjects(store: Path, since: str) -> list[str]:
    return git(store, "log", "--format=%s", f"{since}..main").splitlines()


def conflicting_branch(store: Path) -> None:
    """Branch `other` and main each change the same line of organization by hand."""
    git(store, "checkout", "-qb", "other")
    org = (store / ORG).read_text()
    (store / ORG).write_text(org.replace("08:00-18:00", "07:00-19:00"))
    git(store, "commit", "-qam", "longer hours")
    git(store, "checkout", "-q", "main")
    (store / ORG).write_text(org.replace("08:00-18:00", "09:00-17:00"))
    git(store, "commit", "-qam", "shorter hours")


def resolve(path: Path) -> None:
    """Take our side of each conflict between markers."""
    text = re.sub(
        r"<<<<<<< .*?\n(.*?)=======\n.*?>>>>>>> .*?\n", r"\1", path.read_text(), flags=re.S
    )
    path.write_text(text)


def test_agents_write_to_the_branch_while_head_is_detached(sample: gitmem.Client) -> None:
    store = sample.path
    old = rev(store)
    sample.agents.memory("worker").memory_insert("task_queue", "[todo] T-2")
    git(store, "checkout", "-q", old)
    org, queue = (store / ORG).read_text(), (store / QUEUE).read_text()

    inserted = cli(store, "memory", "insert", "worker", "organization", "Agent line")
    sample.blocks.update("task_queue", description="The queue")
    sample.blocks.create(label="notes", value="n")
    sample.agents.blocks.attach("notes", agent_id="worker")

    assert (inserted.exit_code, inserted.stderr) == (0, "")
    assert subjects(store, old) == [
        "attach: notes to worker",
        "create_block: notes",
        "update_block: task_queue",
        "memory_insert: organization",
        "memory_insert: task_queue",
    ]
    # HEAD, index and files are the person's: as git checked them out.
    assert rev(store) == old
    assert git(store, "status", "--porcelain", "--untracked-files=all") == ""
    assert ((store / ORG).read_text(), (store / QUEUE).read_text()) == (org, queue)
    assert not (store / "blocks/notes.md").exists()

    git(store, "checkout", "-q", "main")

    assert (store / ORG).read_text().endswith("Agent line\n")
    assert "description: The queue\n" in (store / QUEUE).read_text()
    assert (store / "blocks/notes.md").exists()
    assert sample.agents.retrieve("worker").block_ids[-1] == "notes"
    assert_clean(store)


def test_a_checkout_of_the_branch_that_read_it_before_an_agent_wrote_is_caught_up(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    git(store, "checkout", "-q", "--detach")
    memory = sample.agents.memory("worker")
    memory.memory_insert("organization", "Agent line")
    # `git checkout main` as it goes when it read the branch just before that
    # insert: files and index as they were, then HEAD moved (the last step).
    git(store, "symbolic-ref", "HEAD", "refs/heads/main")
    assert git(store, "status", "--porcelain") == f"M  {ORG}\n"  # would commit a revert
    handoff = store / "blocks/handoff_context.md"
    handoff.write_text(handoff.read_text() + "A person's line\n")

    memory.memory_insert("task_queue", "[todo] T-2")

    assert (store / ORG).read_text().endswith("Agent line\n")
    assert (store / QUEUE).read_text().endswith("[todo] T-2\n")
    assert git(store, "status", "--porcelain") == " M blocks/handoff_context.md\n"


def test_only_the_last_moves_are_kept_for_the_catch_up(
    sample: gitmem.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gitmem.git.checkout, "AWAY_KEPT", 2)
    store = sample.path
    git(store, "checkout", "-q", "--detach")
    memory = sample.agents.memory("worker")
    for n in range(2, 9):
        memory.memory_insert("task_queue", f"[todo] T-{n}")
    away = (store / ".git/gitmem/away").read_bytes().splitlines()
    git(store, "checkout", "-q", "main~1")  # as the branch was before the last move
    git(store, "symbolic-ref", "HEAD", "refs/heads/main")  # and then HEAD back on it

    memory.memory_insert("organization", "Agent line")

    assert len(away) <= 4
    assert (store / QUEUE).read_text().endswith("[todo] T-7\n[todo] T-8\n")
    assert_clean(store)


def test_status_says_the_state_and_commit_from_disk_says_what_to_do(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    git(store, "checkout", "-q", "--detach")
    short = rev(store)[:7]
    (store / ORG).write_text((store / ORG).read_text() + "A person's line\n")

    status = cli(store, "status")
    committed = cli(store, "commit")
    git(store, "checkout", "-q", "-b", "other")
    on_other = cli(store, "status", "--json")

    assert (status.exit_code, status.stdout) == (
        0,
        f"HEAD detached at {short}; agents write to main\n",
    )
    assert (committed.exit_code, committed.stderr) == (
        1,
        f"Error: cannot commit files from disk: HEAD detached at {short}; agents write to "
        "main; run 'git checkout main' first\n",
    )
    assert (on_other.stdout, on_other.stderr) == ("[]\n", "on branch other; agents write to main\n")
    git(store, "checkout", "-q", "main")  # the person's change comes along
    assert cli(store, "status").stdout == f"modified\t{ORG}\tvalid\n"


def test_gitmem_edit_commits_to_the_branch_while_head_is_detached(
    sample: gitmem.Client, tmp_path: Path
) -> None:
    store = sample.path
    editor = tmp_path / "editor"
    editor.write_text('#!/bin/sh\necho "Edited by a person" >> "$1"\n')
    editor.chmod(0o755)
    git(store, "checkout", "-q", "--detach")
    org = (store / ORG).read_text()

    edited = CliRunner(env={"EDITOR": str(editor), "VISUAL": ""}).invoke(
        main, ["-C", str(store), "edit", "organization"]
    )

    assert (edited.exit_code, edited.stdout) == (0, f"committed {ORG}\n")
    assert sample.blocks.retrieve("organization").value.endswith("\nEdited by a person")
    assert (store / ORG).read_text() == org
    git(store, "checkout", "-q", "main")
    assert_clean(store)


def test_a_rebase_stopped_on_a_conflict_while_an_agent_writes(sample: gitmem.Client) -> None:
    store = sample.path
    conflicting_branch(store)
    main = rev(store, "main")
    git(store, "checkout", "-q", "other")
    git(store, "rebase", "main", check=False)
    onto = rev(store)[:7]
    marked = (store / ORG).read_text()
    assert "<<<<<<<" in marked and onto == main[:7]

    sample.agents.memory("worker").memory_insert("task_queue", "[todo] T-2: during a rebase")
    status = cli(store, "status")
    committed = cli(store, "commit")

    assert subjects(store, main) == ["memory_insert: task_queue"]
    assert (store / ORG).read_text() == marked
    assert status.stdout == f"rebase in progress; HEAD detached at {onto}; agents write to main\n"
    assert committed.stderr == (
        f"Error: cannot commit files from disk: rebase in progress; HEAD detached at {onto}; "
        "agents write to main; finish the rebase first (git rebase --continue, or git rebase "
        "--abort)\n"
    )
    resolve(store / ORG)
    git(store, "add", ORG)
    git(store, "-c", "core.editor=true", "rebase", "--continue")
    assert cli(store, "status").stdout == "on branch other; agents write to main\n"
    git(store, "checkout", "-q", "main")
    assert (store / QUEUE).read_text().endswith("[todo] T-2: during a rebase\n")
    assert_clean(store)


@pytest.mark.parametrize(
    ("command", "finish", "conclude"),
    [
        (("merge", "other"), "git commit, or git merge --abort", ("commit", "-q", "--no-edit")),
        (
            ("cherry-pick", "other"),
            "git cherry-pick --continue, or git cherry-pick --abort",
            ("commit", "-q", "--no-edit", "--allow-empty"),  # we took our side
        ),
    ],
    ids=["merge", "cherry-pick"],
)
def test_a_conflict_git_waits_on_keeps_an_agent_write_made_meanwhile(
    sample: gitmem.Client, command: tuple[str, ...], finish: str, conclude: tuple[str, ...]
) -> None:
    store, operation = sample.path, command[0]
    conflicting_branch(store)
    git(store, *command, check=False)

    sample.agents.memory("worker").memory_insert("task_queue", "[todo] T-2: meanwhile")
    status = cli(store, "status")
    committed = cli(store, "commit")

    # HEAD is on the branch: the index and files of what git left alone follow
    # it, so the commit that concludes the operation keeps the agent's line.
    assert (store / QUEUE).read_text().endswith("[todo] T-2: meanwhile\n")
    assert status.stdout == (
        f"{operation} in progress; agents write to main\n"
        f"modified\t{ORG}\t{ORG}: unmerged (a git merge is in progress); "
        "resolve it with git first\n"
    )
    assert committed.stderr == (
        f"Error: cannot commit files from disk: {operation} in progress; agents write to "
        f"main; finish the {operation} first ({finish})\n"
    )
    resolve(store / ORG)
    git(store, "add", ORG)
    git(store, *conclude)
    assert sample.blocks.retrieve("task_queue").value.endswith("[todo] T-2: meanwhile")
    assert "09:00-17:00" in sample.blocks.retrieve("organization").value
    assert_clean(store)


def test_a_bisect_while_an_agent_writes(sample: gitmem.Client) -> None:
    store = sample.path
    first = rev(store)
    memory = sample.agents.memory("worker")
    for n in range(2, 6):
        memory.memory_insert("task_queue", f"[todo] T-{n}")
    git(store, "bisect", "start")
    git(store, "bisect", "bad")
    git(store, "bisect", "good", first)
    middle = rev(store)[:7]

    memory.memory_insert("organization", "Agent line")

    assert cli(store, "status").stdout == (
        f"bisect in progress; HEAD detached at {middle}; agents write to main\n"
    )
    assert git(store, "status", "--porcelain") == ""
    git(store, "bisect", "reset")
    assert (store / ORG).read_text().endswith("Agent line\n")
    assert_clean(store)


def test_the_recorded_branch_stays(sample: gitmem.Client) -> None:
    settings = sample.path / "gitmem.yaml"
    settings.write_text(settings.read_text().replace("branch: main", "branch: trunk"))

    committed = subprocess.run(
        ["git", "commit", "-qam", "agents, go elsewhere"],
        cwd=sample.path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert (committed.returncode, committed.stderr) == (
        1,
        "gitmem.yaml:3: the store's branch is main and stays so (agents write there); "
        "keep 'branch: main'\n"
        "Error: gitmem: commit refused; fix the files above, git add them and commit again\n",
    )


def test_a_recorded_branch_the_repository_lacks_is_said_not_started(
    sample: gitmem.Client,
) -> None:
    settings = sample.path / "gitmem.yaml"
    git(sample.path, "checkout", "-qb", "other")
    settings.write_text(settings.read_text().replace("branch: main", "branch: trunk"))
    git(sample.path, "commit", "-qam", "agents, go elsewhere", "--no-verify")

    listed = cli(sample.path, "blocks", "list")

    assert (listed.exit_code, listed.stderr) == (
        1,
        "Error: gitmem.yaml names the store's branch trunk, and this repository has no such "
        "branch; make it: git branch trunk <commit>\n",
    )


def test_a_store_without_a_recorded_branch_uses_main_while_detached(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    settings = store / "gitmem.yaml"
    settings.write_text(settings.read_text().replace("branch: main\n", ""))
    git(store, "commit", "-qam", "as made before the branch was recorded", "--no-verify")
    git(store, "checkout", "-q", "--detach")
    before = rev(store)

    inserted = cli(store, "memory", "insert", "worker", "organization", "Agent line")

    assert (inserted.exit_code, inserted.stderr) == (0, "")
    assert subjects(store, before) == ["memory_insert: organization"]
    git(store, "checkout", "-q", "main")
    assert_clean(store)
