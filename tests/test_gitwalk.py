"""Walking the branch's commits: the one ancestry check, whatever the clocks said."""

from __future__ import annotations

from pathlib import Path

import pytest
from dulwich.objects import ObjectID

import gitmem
from gitmem.git.repo import GitRepo
from gitmem.git.walk import is_ancestor
from gitmem.model.block import MAX_FILE_BYTES
from tests.conftest import git


def commit(path: Path, when: int, monkeypatch: pytest.MonkeyPatch) -> ObjectID:
    """An empty commit made by git on a machine whose clock said ``when``."""
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{when} +0000")
    git(path, "commit", "-q", "--allow-empty", "--no-verify", "-m", str(when))
    return ObjectID(git(path, "rev-parse", "HEAD").strip().encode())


def test_is_ancestor_follows_parents_not_clocks(
    client: gitmem.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = client.path
    start = commit(path, 2_000_000_000, monkeypatch)
    behind = commit(path, 1_000_000_000, monkeypatch)  # a clock years behind
    head = commit(path, 2_000_000_100, monkeypatch)
    git(path, "checkout", "-q", "-b", "other", "HEAD~2")
    elsewhere = commit(path, 2_000_000_050, monkeypatch)
    repo = GitRepo(path, max_file=MAX_FILE_BYTES)
    try:
        assert is_ancestor(repo, start, head)
        assert is_ancestor(repo, behind, head)
        assert is_ancestor(repo, head, head)
        assert not is_ancestor(repo, head, start)
        assert not is_ancestor(repo, elsewhere, head)
        assert not is_ancestor(repo, ObjectID(b"1" * 40), head)  # gone: rewritten, collected
    finally:
        repo.close()
