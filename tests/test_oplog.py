"""Operations read back from commits (gitmem/ops/oplog.py), on real stores."""

from __future__ import annotations

from dulwich.objects import ObjectID

import gitmem
from gitmem.ops.oplog import edit_ops, side_ops
from gitmem.ops.store import Store
from tests.conftest import assert_clean, git

ORG = "blocks/organization.md"


def store_of(client: gitmem.Client) -> Store:
    return client._store  # the API has no public handle on the store; tests may look


def test_each_commit_is_read_back_as_the_operation_it_made(sample: gitmem.Client) -> None:
    start = git(sample.path, "rev-parse", "HEAD").strip()
    memory = sample.agents.memory("worker")
    memory.memory_insert("organization", "New hire: Sam (support)")
    memory.memory_replace("organization", "08:00-18:00", "09:00-18:00")
    memory.memory_rethink("organization", "Everything changed.")
    sample.blocks.update("organization", description="Only front matter")
    repo = store_of(sample).repo

    tip = repo.head()
    assert tip is not None
    ops = side_ops(repo, tip, ObjectID(start.encode()), [ORG], 20000)[ORG]

    assert [(op.kind, op.name, op.who) for op in ops] == [
        ("insert", "memory_insert", "worker"),
        ("replace", "memory_replace", "worker"),
        ("rewrite", "memory_rethink", "worker"),
    ]
    assert ops[0].at_end and ops[0].text == "New hire: Sam (support)"
    assert (ops[1].old, ops[1].text) == ("08:00-18:00", "09:00-18:00")


def test_a_persons_commit_merges_with_an_agents_replace_on_the_same_line(
    sample: gitmem.Client,
) -> None:
    path = sample.path / ORG
    path.write_text(path.read_text().replace("Monday to Friday.", "Monday to Friday (not 24.12)."))
    sample.agents.memory("worker").memory_replace("organization", "08:00-18:00", "09:00-18:00")

    outcome = sample.commit(message="Holiday note")

    assert outcome.conflicts == ()
    first = sample.blocks.retrieve("organization").value.split("\n")[0]
    assert first.endswith("Support hours: 09:00-18:00 CET, Monday to Friday (not 24.12).")
    assert_clean(sample.path)


def test_edit_ops_needs_the_version_the_person_started_from(sample: gitmem.Client) -> None:
    repo = store_of(sample).repo
    data = (sample.path / ORG).read_bytes()
    assert edit_ops(repo, repo.head(), ORG, "0" * 40, data, 20000, "Pat") is None
    base = repo.snapshot().blob_id(ORG)
    assert base is not None
    assert edit_ops(repo, repo.head(), ORG, base, data, 20000, "Pat") == ([], [])
