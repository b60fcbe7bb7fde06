"""The working tree, the index and the branch compared as git compares them,
checked against what the git binary itself says."""

from __future__ import annotations

from pathlib import Path

import gitmem
from gitmem.git.repo import GitRepo
from gitmem.git.worktree import _tree_ids, file_states, index_vs_head
from gitmem.model.block import MAX_FILE_BYTES
from tests.conftest import git


def git_says_staged(store: Path) -> dict[str, str]:
    """`git diff --cached`: path -> A, M or D."""
    out = git(store, "diff", "--cached", "--name-status", "--no-renames")
    return {line.split("\t")[1]: line.split("\t")[0] for line in out.splitlines()}


def ours(store: Path) -> dict[str, str]:
    repo = GitRepo(store, max_file=MAX_FILE_BYTES)
    try:
        diff = index_vs_head(repo, {n.decode(): e for n, e in repo.read_index().staged()})
    finally:
        repo.close()
    kinds = {(True, False): "A", (True, True): "M", (False, True): "D"}
    return {
        path: kinds[staged is not None, head is not None] for path, (staged, head) in diff.items()
    }


def test_index_tree_ids_are_the_trees_git_writes(sample: gitmem.Client) -> None:
    store = sample.path
    (store / "blocks/new/deep").mkdir(parents=True)
    (store / "blocks/new/deep/x.md").write_text("---\nlabel: x\n---\n")
    git(store, "add", "-A")
    repo = GitRepo(store, max_file=MAX_FILE_BYTES)
    try:
        staged = {n.decode(): e for n, e in repo.read_index().staged()}
    finally:
        repo.close()
    assert _tree_ids(staged)[""] == git(store, "write-tree").strip()


def test_index_against_head_matches_git_diff_cached(sample: gitmem.Client) -> None:
    store = sample.path
    assert ours(store) == {} == git_says_staged(store)

    (store / "blocks/organization.md").write_text("---\nlabel: organization\n---\nnew\n")
    (store / "blocks/team/a").mkdir(parents=True)
    (store / "blocks/team/a/notes.md").write_text("---\nlabel: notes\n---\n")
    git(store, "add", "-A")
    git(store, "rm", "-q", "--cached", "blocks/worker/persona.md")

    assert (
        ours(store)
        == git_says_staged(store)
        == {
            "blocks/organization.md": "M",
            "blocks/team/a/notes.md": "A",
            "blocks/worker/persona.md": "D",
        }
    )


def test_file_states_find_what_people_changed(sample: gitmem.Client) -> None:
    store = sample.path
    (store / "blocks/organization.md").write_text("changed\n")
    (store / "blocks/task_queue.md").unlink()
    (store / "blocks/notes.md").write_text("new\n")
    (store / "blocks/.notes.md.swp").write_text("swap\n")

    repo = GitRepo(store, max_file=MAX_FILE_BYTES)
    try:
        states = file_states(repo, ("blocks",), untracked=lambda path: "swp" not in path)
    finally:
        repo.close()
    changed = [(s.path, s.disk is None, s.head is None) for s in states if s.changed]

    assert changed == [
        ("blocks/notes.md", False, True),
        ("blocks/organization.md", False, False),
        ("blocks/task_queue.md", True, False),
    ]
