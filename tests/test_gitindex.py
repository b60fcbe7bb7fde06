"""The index as git writes it in its rarer forms: version 4, a split index, and
extensions gitmem does not know. gitmem updates what it can and refuses the rest
in one line, leaving the index exactly as git wrote it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import gitmem
from tests.conftest import assert_clean, git


def insert(client: gitmem.Client, line: str) -> None:
    client.agents.memory("worker").memory_insert("organization", line)


def test_an_index_of_version_4_is_kept_and_updated(sample: gitmem.Client) -> None:
    store = sample.path
    git(store, "update-index", "--index-version", "4")
    insert(sample, "v4 line")
    assert (store / ".git/index").read_bytes()[4:8] == (4).to_bytes(4, "big")
    assert sample.blocks.retrieve("organization").value.endswith("v4 line")
    assert_clean(store)


def with_extension(index: Path, signature: bytes) -> None:
    """Append an (empty) extension to the index and fix its checksum."""
    body = index.read_bytes()[:-20] + signature + (0).to_bytes(4, "big")
    index.write_bytes(body + hashlib.sha1(body).digest())


@pytest.mark.parametrize(
    ("how", "message"),
    [
        (
            "split",
            "is a split index (core.splitIndex), which gitmem cannot update without "
            "corrupting it; turn it off: git config core.splitIndex false && "
            "git update-index --no-split-index",
        ),
        (
            "zzzz",
            "has a required extension gitmem does not know ('zzzz'), so gitmem cannot "
            "update it without corrupting it",
        ),
    ],
)
def test_an_index_gitmem_cannot_update_is_refused_and_left_alone(
    sample: gitmem.Client, how: str, message: str
) -> None:
    store, index = sample.path, sample.path / ".git/index"
    if how == "split":
        git(store, "update-index", "--split-index")
    else:
        with_extension(index, how.encode())
    head = git(store, "rev-parse", "HEAD")
    before = index.read_bytes()

    with pytest.raises(gitmem.GitmemError) as refused:
        insert(sample, "never written")

    assert str(refused.value) == f"{index}: {message}"
    assert (index.read_bytes(), git(store, "rev-parse", "HEAD")) == (before, head)
    if how == "split":
        assert git(store, "status", "--porcelain") == ""
        git(store, "config", "core.splitIndex", "false")
        git(store, "update-index", "--no-split-index")
        insert(sample, "written")
        assert sample.blocks.retrieve("organization").value.endswith("written")
        assert_clean(store)
