"""Hostile input through the API and the CLI: refused in one line, before anything
is written; and nothing ever read or written through a link out of the store."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from click.testing import CliRunner, Result

import gitmem
from gitmem.cli import main
from gitmem.model.block import MAX_FILE_BYTES
from gitmem.ops.store import Store
from tests.conftest import assert_clean, git

BAD_IDS = [
    "..",
    "../x",
    "/abs",
    "Upper",
    "has space",
    "tab\tx",
    "bell\x07",
    ".git",
    "x" * 129,
    "",
    "a//b",
    "-x",
    "nul\0",
]
ID_RULE = (
    "use up to 128 characters of lower-case letters, digits, '.', '_' and '-', "
    "starting with a letter or digit"
)


@contextmanager
def unchanged(client: gitmem.Client) -> Iterator[None]:
    """Assert that the store's branch, index and files are as they were."""
    head = git(client.path, "rev-parse", "HEAD")
    yield
    assert git(client.path, "rev-parse", "HEAD") == head
    assert_clean(client.path)


# Every API entry point that takes an id: the kind of id, and a call with ``bad`` there.
ENTRY_POINTS: dict[str, tuple[str, Callable[[gitmem.Client, str], object]]] = {
    "blocks.create(id=)": ("block", lambda c, bad: c.blocks.create(label="ok", id=bad)),
    "blocks.retrieve": ("block", lambda c, bad: c.blocks.retrieve(bad)),
    "blocks.update": ("block", lambda c, bad: c.blocks.update(bad, value="v")),
    "blocks.delete": ("block", lambda c, bad: c.blocks.delete(bad)),
    "blocks.agents.list": ("block", lambda c, bad: c.blocks.agents.list(bad)),
    "agents.create(name=)": ("agent", lambda c, bad: c.agents.create(name=bad)),
    "agents.create(block_ids=)": (
        "block",
        lambda c, bad: c.agents.create(name="new", block_ids=[bad]),
    ),
    "agents.retrieve": ("agent", lambda c, bad: c.agents.retrieve(bad)),
    "agents.delete": ("agent", lambda c, bad: c.agents.delete(bad)),
    "agents.memory": ("agent", lambda c, bad: c.agents.memory(bad)),
    "agents.blocks.attach(block_id)": (
        "block",
        lambda c, bad: c.agents.blocks.attach(bad, agent_id="worker"),
    ),
    "agents.blocks.attach(agent_id)": (
        "agent",
        lambda c, bad: c.agents.blocks.attach("organization", agent_id=bad),
    ),
    "agents.blocks.detach(block_id)": (
        "block",
        lambda c, bad: c.agents.blocks.detach(bad, agent_id="worker"),
    ),
    "agents.blocks.detach(agent_id)": (
        "agent",
        lambda c, bad: c.agents.blocks.detach("organization", agent_id=bad),
    ),
    "agents.blocks.list": ("agent", lambda c, bad: c.agents.blocks.list(bad)),
    "agents.blocks.retrieve": (
        "agent",
        lambda c, bad: c.agents.blocks.retrieve("persona", agent_id=bad),
    ),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_invalid_ids_are_refused_at_every_api_entry_point(
    sample: gitmem.Client, entry: str
) -> None:
    kind, call = ENTRY_POINTS[entry]
    with unchanged(sample):
        for bad in BAD_IDS:
            with pytest.raises(gitmem.ValidationError) as refused:
                call(sample, bad)
            assert f"invalid {kind} id {bad!r}: {ID_RULE}" in str(refused.value)


def test_an_agent_id_may_not_have_a_slash(client: gitmem.Client) -> None:
    with unchanged(client), pytest.raises(gitmem.ValidationError) as refused:
        client.agents.create(name="team/worker")
    assert str(refused.value) == f"invalid agent id 'team/worker': {ID_RULE}"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"label": "x\nread_only: true"},
            "block 'x-read_only-true': 'label' must not contain control characters "
            "(newlines, tabs, ...)",
        ),
        (
            {"label": "a\u2028b"},
            "block 'a-b': 'label' must not contain control characters (newlines, tabs, ...)",
        ),
        ({"label": "l" * 201}, "'label' is 201 characters, over the maximum of 200"),
        ({"label": "  "}, "block 'block': 'label' must be non-empty text"),
        ({"label": 5}, "block '5': 'label' must be non-empty text"),
        ({"label": "v", "value": 5}, "block 'v': the value must be text, not int"),
        ({"label": "v", "value": "a\0b"}, "block 'v': the value must not contain NUL characters"),
        (
            {"label": "v", "value": "a\udcffb"},
            "block 'v': the value is not valid Unicode text (it has a lone surrogate)",
        ),
        (
            {"label": "v", "value": "x" * 5_000_000},
            "block 'v': value is too long: 5000000 characters requested, 20000 allowed",
        ),
        (
            {"label": "v", "value": "x" * 5_000_000, "limit": 6_000_000},
            "block 'v': 'limit' is 6000000, over the maximum of 1000000 characters",
        ),
        (
            {"label": "v", "description": "d" * 70_000},
            "block 'v': its YAML would be 70053 characters, over the maximum of 65536",
        ),
        ({"label": "v", "metadata": [1]}, "block 'v': 'metadata' must be a mapping"),
        (
            {"label": "v", "metadata": {"a": object()}},
            "block 'v' cannot be written as YAML: ('cannot represent an object'",
        ),
    ],
)
def test_bad_block_fields_are_refused_before_anything_is_written(
    client: gitmem.Client, fields: dict[str, object], message: str
) -> None:
    with unchanged(client), pytest.raises(gitmem.ValidationError) as refused:
        client.blocks.create(**fields)  # type: ignore[arg-type]  # wrong types, on purpose
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_self_referencing_and_shared_metadata(client: gitmem.Client) -> None:
    loop: list[object] = [1]
    loop.append(loop)
    with unchanged(client), pytest.raises(gitmem.ValidationError) as refused:
        client.blocks.create(label="v", metadata={"a": loop})
    assert str(refused.value) == "block 'v' cannot be written as YAML: nested too deeply"
    shared = ["x"]  # one list used twice is written twice, not as a YAML alias
    block = client.blocks.create(label="w", metadata={"a": shared, "b": shared})
    assert client.blocks.retrieve(block.id).metadata == {"a": ["x"], "b": ["x"]}


def test_bad_agent_fields_are_refused(client: gitmem.Client) -> None:
    with unchanged(client):
        cases: list[tuple[dict[str, object], str]] = [
            ({"block_ids": "organization"}, "block_ids and memory_blocks must be lists"),
            ({"memory_blocks": ["persona"]}, "memory_blocks[0]: expected a mapping with a 'label'"),
            ({"memory_blocks": [{"value": "v"}]}, "memory_blocks[0]: 'label' is required"),
            ({"metadata": [1]}, "agent 'w': 'metadata' must be a mapping of keys to values"),
            ({"description": 5}, "agent 'w': 'description' must be text, not int"),
        ]
        for kwargs, message in cases:
            with pytest.raises(gitmem.ValidationError) as refused:
                client.agents.create(name="w", **kwargs)  # type: ignore[arg-type]  # on purpose
            assert str(refused.value).startswith(message)
    # Letta passes None for "no blocks".
    assert client.agents.create(name="w", block_ids=None, memory_blocks=None).block_ids == ()


def test_memory_tools_refuse_bad_arguments_and_huge_values(sample: gitmem.Client) -> None:
    mem = sample.agents.memory("worker")
    # The first three pass the wrong types on purpose, as an untyped caller (a
    # model's tool call, JSON) can.
    cases: list[tuple[Callable[[], str], str]] = [
        (
            lambda: mem.memory_insert("persona", 5),  # type: ignore[arg-type]
            "new_string must be a string, not int",
        ),
        (
            lambda: mem.memory_insert("persona", "x", "3"),  # type: ignore[arg-type]
            "insert_line must be an integer",
        ),
        (
            lambda: mem.memory_rethink("persona", None),  # type: ignore[arg-type]
            "new_memory must be a string",
        ),
        (
            lambda: mem.memory_rethink("persona", "a\0"),
            "block 'worker/persona': the value must not contain NUL characters",
        ),
        (
            lambda: mem.memory_insert("persona", "x" * 5_000_000),
            "Edit failed: Exceeds 5000 character limit (requested 5000093).",
        ),
    ]
    with unchanged(sample):
        for call, message in cases:
            with pytest.raises(gitmem.ValidationError) as refused:
                call()
            assert str(refused.value).startswith(message)


# -- the CLI ---------------------------------------------------------------------


def cli(store: Path, *args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), *args], input=stdin)


def assert_one_error(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr == f"Error: {message}\n"


def test_a_5_mb_value_is_refused_through_the_cli(client: gitmem.Client, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("x" * 5_000_000)
    too_long = "block 'v': value is too long: 5000000 characters requested, 20000 allowed"
    with unchanged(client):
        assert_one_error(
            cli(client.path, "blocks", "create", "--label", "v", "--value-file", str(big)), too_long
        )
        assert_one_error(
            cli(
                client.path,
                "blocks",
                "create",
                "--label",
                "v",
                "--value",
                "-",
                stdin=b"x" * 5_000_000,
            ),
            too_long,
        )


def test_value_files_that_are_not_text_or_endless_are_refused(
    client: gitmem.Client, tmp_path: Path
) -> None:
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0 JFIF")
    with unchanged(client):
        assert_one_error(
            cli(client.path, "blocks", "create", "--label", "v", "--value-file", str(binary)),
            f"{binary}:1: not valid UTF-8 (byte 0xff)",
        )
        assert_one_error(
            cli(client.path, "blocks", "create", "--label", "v", "--value-file", "/dev/zero"),
            f"/dev/zero: more than {MAX_FILE_BYTES} bytes, too long for any block",
        )
        assert_one_error(
            cli(client.path, "blocks", "create", "--label", "v", "--value", "-", stdin=b"a\xffb"),
            "<stdin>:1: not valid UTF-8 (byte 0xff)",
        )


def test_memory_text_from_stdin_must_be_utf8(sample: gitmem.Client) -> None:
    with unchanged(sample):
        assert_one_error(
            cli(sample.path, "memory", "insert", "worker", "persona", "-", stdin=b"\xfe"),
            "<stdin>:1: not valid UTF-8 (byte 0xfe)",
        )


# -- links in the working tree ---------------------------------------------------


def test_a_linked_blocks_directory_is_never_written_through(
    client: gitmem.Client, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, client.path / "blocks")
    block = client.blocks.create(label="notes", value="kept in git")
    client.blocks.update(block.id, value="still in git")
    assert list(outside.iterdir()) == []
    assert (client.path / "blocks").is_symlink()
    assert client.blocks.retrieve("notes").value == "still in git"
    client.blocks.delete("notes")
    assert list(outside.iterdir()) == []


def test_a_linked_block_file_is_never_written_or_deleted_through(
    sample: gitmem.Client, tmp_path: Path
) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("not gitmem's\n")
    org = sample.path / "blocks/organization.md"
    org.unlink()
    os.symlink(target, org)
    sample.blocks.update("organization", value="new value")
    sample.blocks.delete("organization", force=True)
    assert target.read_text() == "not gitmem's\n"
    assert org.is_symlink()
    # The commits landed; only the file on disk, a person's business, was left alone.
    assert git(sample.path, "log", "-2", "--format=%s").split("\n")[:2] == [
        "delete_block: organization",
        "update_block: organization",
    ]


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_a_fifo_in_place_of_a_block_does_not_hang_a_write(sample: gitmem.Client) -> None:
    org = sample.path / "blocks/organization.md"
    org.unlink()
    os.mkfifo(org)
    with time_limit(20):
        sample.blocks.update("organization", value="written to git, FIFO left alone")
    assert sample.blocks.retrieve("organization").value == "written to git, FIFO left alone"
    assert not org.is_file()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"blocks/x.md": b"---\nlabel: x\nreadonly: true\n---\n"},
            "blocks/x.md:3: unknown key 'readonly' "
            "(allowed: label, description, limit, read_only, metadata)",
        ),
        ({"../escape.md": b""}, "../escape.md: not a block or an agent manifest"),
        (
            {"blocks/../../x.md": b"---\nlabel: x\n---\n"},
            f"blocks/../../x.md:1: invalid block id '../../x': {ID_RULE}, in '/'-separated parts",
        ),
        (
            {"agents/w.yaml": b"name: w\nblocks: [ghost]\n"},
            "agents/w.yaml:2: block 'ghost' does not exist",
        ),
    ],
)
def test_a_store_made_from_bad_files_is_not_made(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    with pytest.raises(gitmem.ValidationError) as refused:
        Store.init(tmp_path / "mem", files)
    assert str(refused.value) == message
    assert not (tmp_path / "mem").exists()
