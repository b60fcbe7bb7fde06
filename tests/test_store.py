"""Every block and agent operation and its errors, on real stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import gitmem
from gitmem.errors import NotFoundError, ValidationError
from gitmem.ops.check import check_store
from tests.conftest import assert_clean, git


def commits(path: Path) -> int:
    return int(git(path, "rev-list", "--count", "HEAD"))


def test_init_makes_a_store_git_understands(tmp_path: Path) -> None:
    with gitmem.Client.init(tmp_path / "mem") as client:
        root = client.path
    assert git(root, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(root, "ls-files").split() == [".gitattributes", ".gitignore", "gitmem.yaml"]
    assert (root / "gitmem.yaml").read_text() == "format: 1\ndefault_limit: 20000\nbranch: main\n"
    assert "blocks/**/*.md merge=gitmem" in (root / ".gitattributes").read_text()
    assert_clean(root)


def test_init_refuses_existing_repositories_and_non_empty_directories(tmp_path: Path) -> None:
    gitmem.Client.init(tmp_path / "a").close()
    with pytest.raises(ValidationError, match="is already a Git repository"):
        gitmem.Client.init(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "file").write_text("x")
    with pytest.raises(ValidationError, match="is not empty"):
        gitmem.Client.init(tmp_path / "b")


def test_opening_something_that_is_not_a_store_says_so(tmp_path: Path) -> None:
    with pytest.raises(
        NotFoundError, match=r"not a gitmem store: .*; create one with 'gitmem init'"
    ):
        gitmem.Client(tmp_path)


def test_a_store_is_found_from_a_subdirectory(client: gitmem.Client) -> None:
    client.blocks.create(label="notes")
    with gitmem.Client(client.path / "blocks") as again:
        assert again.path == client.path


def test_sample_store_has_the_seed_agents_and_blocks(sample: gitmem.Client) -> None:
    assert [a.id for a in sample.agents.list()] == ["supervisor", "worker"]
    ids = {b.id for b in sample.blocks.list()}
    assert {
        "organization",
        "task_queue",
        "domain_knowledge",
        "user_preferences",
        "handoff_context",
        "system_config",
        "supervisor/persona",
        "worker/persona",
    } == ids
    assert sample.blocks.retrieve("system_config").read_only
    assert [a.id for a in sample.blocks.agents.list("organization")] == ["supervisor", "worker"]
    assert_clean(sample.path)


def test_block_ids_default_from_the_label_and_never_collide(client: gitmem.Client) -> None:
    first = client.blocks.create(label="Task Queue")
    second = client.blocks.create(label="Task Queue")
    explicit = client.blocks.create(label="x", id="block-3f2a9c4e-1111-4a2b-9c3d-123456789abc")
    assert (first.id, second.id) == ("task-queue", "task-queue-2")
    assert explicit.id == "block-3f2a9c4e-1111-4a2b-9c3d-123456789abc"
    with pytest.raises(ValidationError, match="block 'task-queue' already exists"):
        client.blocks.create(label="y", id="task-queue")
    with pytest.raises(ValidationError, match="invalid block id 'Bad Id'"):
        client.blocks.create(label="y", id="Bad Id")


def test_create_retrieve_and_list(client: gitmem.Client) -> None:
    made = client.blocks.create(
        label="org", value="v", description="d", limit=50, read_only=True, metadata={"k": [1]}
    )
    got = client.blocks.retrieve("org")
    assert got == made
    assert (got.value, got.description, got.limit, got.read_only, dict(got.metadata)) == (
        "v",
        "d",
        50,
        True,
        {"k": [1]},
    )
    assert got.version == git(client.path, "rev-parse", "HEAD:blocks/org.md").strip()
    client.blocks.create(label="persona")
    assert [b.id for b in client.blocks.list()] == ["org", "persona"]
    assert [b.id for b in client.blocks.list(label="persona")] == ["persona"]
    with pytest.raises(NotFoundError, match="block 'nope' does not exist"):
        client.blocks.retrieve("nope")


def test_update_changes_each_field_in_one_commit(client: gitmem.Client) -> None:
    client.blocks.create(label="org", value="v")
    before = commits(client.path)
    new = client.blocks.update(
        "org",
        value="w",
        description="d",
        limit=10,
        read_only=True,
        label="org2",
        metadata={"owner": "ops"},
    )
    assert commits(client.path) == before + 1
    assert client.blocks.retrieve("org") == new
    assert (new.value, new.description, new.limit, new.read_only, new.label) == (
        "w",
        "d",
        10,
        True,
        "org2",
    )
    assert dict(new.metadata) == {"owner": "ops"}
    unchanged = client.blocks.update("org", value="w")
    assert commits(client.path) == before + 1  # nothing changed: no commit
    assert unchanged.version == new.version
    assert_clean(client.path)


def test_update_with_if_version_is_compare_and_swap(client: gitmem.Client) -> None:
    first = client.blocks.create(label="org", value="v1")
    second = client.blocks.update("org", value="v2", if_version=first.version)
    with pytest.raises(gitmem.ConflictError) as info:
        client.blocks.update("org", value="v3", if_version=first.version)
    assert str(info.value) == (
        f"block 'org' changed: you read version {first.version}, it is now {second.version}"
    )
    assert client.blocks.retrieve("org").value == "v2"


def test_delete_is_refused_while_attached_unless_forced(client: gitmem.Client) -> None:
    client.blocks.create(label="org")
    client.agents.create(name="a", block_ids=["org"])
    client.agents.create(name="b", block_ids=["org"])
    with pytest.raises(ValidationError, match="block 'org' is attached to a, b; detach it first"):
        client.blocks.delete("org")
    before = commits(client.path)
    client.blocks.delete("org", force=True)
    assert commits(client.path) == before + 1
    assert client.agents.retrieve("a").block_ids == ()
    assert not (client.path / "blocks/org.md").exists()
    with pytest.raises(NotFoundError):
        client.blocks.delete("org")
    assert_clean(client.path)


def test_agents_create_with_inline_and_shared_blocks(client: gitmem.Client) -> None:
    client.blocks.create(label="organization")
    agent = client.agents.create(
        name="worker",
        description="does tasks",
        model="m",
        metadata={"team": "x"},
        memory_blocks=[{"label": "persona", "value": "I am a worker", "limit": 100}],
        block_ids=["organization"],
    )
    assert agent == client.agents.retrieve("worker")
    assert agent.block_ids == ("worker/persona", "organization")
    persona = client.blocks.retrieve("worker/persona")
    assert (persona.label, persona.value, persona.limit) == ("persona", "I am a worker", 100)
    assert (client.path / "blocks/worker/persona.md").is_file()
    assert [b.label for b in client.agents.blocks.list("worker")] == ["persona", "organization"]


def test_agent_names_are_ids_and_generated_ones_are_readable_and_unique(
    client: gitmem.Client,
) -> None:
    names = {client.agents.create().id for _ in range(5)}
    assert len(names) == 5
    assert all(n.startswith("agent-") and n.count("-") >= 2 for n in names)
    with pytest.raises(ValidationError, match="invalid agent id 'Customer Bot'"):
        client.agents.create(name="Customer Bot")
    client.agents.create(name="worker")
    with pytest.raises(ValidationError, match="agent 'worker' already exists"):
        client.agents.create(name="worker")


def test_agent_create_refuses_unknown_blocks_and_label_clashes(client: gitmem.Client) -> None:
    head = git(client.path, "rev-parse", "HEAD")
    with pytest.raises(NotFoundError, match="block 'nope' does not exist"):
        client.agents.create(name="a", block_ids=["nope"])
    client.blocks.create(label="persona")
    with pytest.raises(ValidationError, match="already has a block labelled 'persona'"):
        client.agents.create(name="a", memory_blocks=[{"label": "persona"}], block_ids=["persona"])
    with pytest.raises(ValidationError, match=r"memory_blocks\[0\]: unknown key 'lable'"):
        client.agents.create(name="a", memory_blocks=[{"lable": "persona"}])
    assert git(client.path, "rev-parse", "HEAD") != head  # only the block was created
    assert client.agents.list() == []


def test_attach_and_detach_are_idempotent(client: gitmem.Client) -> None:
    client.blocks.create(label="org")
    client.agents.create(name="a")
    client.agents.blocks.attach("org", agent_id="a")
    before = commits(client.path)
    assert client.agents.blocks.attach("org", agent_id="a").block_ids == ("org",)
    assert commits(client.path) == before
    client.agents.blocks.detach("org", agent_id="a")
    assert client.agents.blocks.detach("org", agent_id="a").block_ids == ()
    assert commits(client.path) == before + 1
    with pytest.raises(NotFoundError, match="block 'nope' does not exist"):
        client.agents.blocks.attach("nope", agent_id="a")
    with pytest.raises(NotFoundError, match="agent 'nobody' does not exist"):
        client.agents.blocks.attach("org", agent_id="nobody")


def test_labels_stay_unique_per_agent(client: gitmem.Client) -> None:
    client.blocks.create(label="notes", id="a-notes")
    client.blocks.create(label="notes", id="b-notes")
    client.blocks.create(label="other")
    client.agents.create(name="a", block_ids=["a-notes", "other"])
    with pytest.raises(ValidationError, match="agent 'a' already has a block labelled 'notes'"):
        client.agents.blocks.attach("b-notes", agent_id="a")
    with pytest.raises(ValidationError, match="agent 'a' already has a block labelled 'notes'"):
        client.blocks.update("other", label="notes")
    client.blocks.update("b-notes", label="notes")  # not attached to a: fine


def test_delete_agent_keeps_its_blocks_unless_asked(client: gitmem.Client) -> None:
    client.agents.create(name="a", memory_blocks=[{"label": "persona"}])
    client.agents.create(name="b", memory_blocks=[{"label": "persona"}])
    client.agents.delete("a")
    assert client.blocks.retrieve("a/persona")
    client.agents.blocks.attach("b/persona", agent_id="b")  # already attached: no-op
    client.agents.delete("b", delete_blocks=True)
    with pytest.raises(NotFoundError):
        client.blocks.retrieve("b/persona")
    assert not (client.path / "blocks/b").exists()
    assert_clean(client.path)


def test_delete_agent_with_blocks_refuses_blocks_others_hold(client: gitmem.Client) -> None:
    client.agents.create(name="a", memory_blocks=[{"label": "persona"}])
    client.agents.create(name="b", block_ids=["a/persona"])
    with pytest.raises(ValidationError, match="block 'a/persona' is also attached to b"):
        client.agents.delete("a", delete_blocks=True)
    assert client.agents.retrieve("a")


def test_the_store_ignores_editors_temporary_files(tmp_path: Path) -> None:
    editors = [".organization.md.swp", ".organization.md.swo", "organization.md~", "4913"]
    editors += [".#organization.md", "#organization.md#", "organization.md.tmp"]
    with gitmem.Client.init(tmp_path / "mem", sample=True) as client:
        for name in editors:
            (client.path / "blocks" / name).write_text("being edited\n")
        assert git(client.path, "status", "--porcelain", "--untracked-files=all") == ""
        assert check_store(client.path).problems == []
        # A clone takes the .gitignore like the store's other own files.
        hub = tmp_path / "hub.git"
        git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(hub))
        client.add_remote("origin", str(hub))
        client.push()
    with gitmem.Client.clone(str(hub), tmp_path / "copy") as copy:
        assert (copy.path / ".gitignore").read_bytes() == (client.path / ".gitignore").read_bytes()
        assert_clean(copy.path)


def test_an_id_whose_file_collides_with_another_blocks_is_refused_before_writing(
    client: gitmem.Client,
) -> None:
    """Block ``x.md/y`` needs a directory ``blocks/x.md/``, which is block ``x``'s file."""
    client.blocks.create(label="x", id="x")
    client.blocks.create(label="deep", id="a.md/b")
    before = commits(client.path)
    refusals: dict[Callable[[], object], str] = {
        lambda: client.blocks.create(label="y", id="x.md/y"): (
            "block id 'x.md/y' cannot be used: blocks/x.md/y.md needs a directory "
            "blocks/x.md/ where the file of block 'x' is"
        ),
        lambda: client.blocks.create(label="a", id="a"): (
            "block id 'a' cannot be used: blocks/a.md is a directory here (of blocks/a.md/b.md)"
        ),
        lambda: client.agents.create(name="x.md", memory_blocks=[{"label": "persona"}]): (
            "block id 'x.md/persona' cannot be used: blocks/x.md/persona.md needs a "
            "directory blocks/x.md/ where the file of block 'x' is"
        ),
    }
    for create, message in refusals.items():
        with pytest.raises(ValidationError) as refused:
            create()
        assert str(refused.value) == message
    assert commits(client.path) == before
    assert [b.id for b in client.blocks.list()] == ["a.md/b", "x"]
    assert_clean(client.path)
