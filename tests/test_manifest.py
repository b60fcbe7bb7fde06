"""Agent manifests: exact round trips and one-line errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitmem.errors import ValidationError
from gitmem.model.manifest import Agent, dump, parse

PATH = "agents/worker.yaml"
block_ids = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}(/[a-z0-9][a-z0-9._-]{0,10})?", fullmatch=True)


@given(
    name=st.text(min_size=1).filter(str.strip),
    description=st.text(),
    model=st.one_of(st.none(), st.text()),
    blocks=st.lists(block_ids, unique=True),
)
def test_round_trip(name: str, description: str, model: str | None, blocks: list[str]) -> None:
    agent = Agent(
        id="worker", name=name, description=description, model=model, block_ids=tuple(blocks)
    )
    assert parse(dump(agent), agent_id="worker", path=PATH) == agent


def test_file_shape_matches_the_design() -> None:
    agent = Agent(
        id="worker",
        name="worker",
        model="anthropic/claude-haiku-4-5-20251001",
        block_ids=("worker/persona", "organization"),
    )
    assert dump(agent).decode() == (
        "name: worker\ndescription: ''\nmodel: anthropic/claude-haiku-4-5-20251001\n"
        "blocks:\n- worker/persona\n- organization\nmetadata: {}\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: w\nblock: [a]\n",
            "agents/worker.yaml:2: unknown key 'block' (allowed: name, description, model, "
            "blocks, metadata)",
        ),
        (
            "name: w\nblocks: a\n",
            "agents/worker.yaml:2: 'blocks' must be a list of block ids, not str",
        ),
        (
            "name: w\nblocks: [ok, ../etc]\n",
            "agents/worker.yaml:2: 'blocks': invalid block id '../etc': use up to 128 characters "
            "of lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, "
            "in '/'-separated parts",
        ),
        ("name: w\nblocks: [a, a]\n", "agents/worker.yaml:2: 'blocks': block 'a' is listed twice"),
        (
            "name: w\nmetadata: 3\n",
            "agents/worker.yaml:2: 'metadata' must be a mapping of keys to values, not int",
        ),
        ("name: w\nmodel: 4\n", "agents/worker.yaml:2: 'model' must be text, not int"),
    ],
)
def test_errors_are_one_line_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse(text.encode(), agent_id="worker", path=PATH)
    assert str(info.value) == message


def test_name_defaults_to_the_id_and_bad_ids_are_refused() -> None:
    assert parse(b"blocks: []\n", agent_id="worker", path=PATH).name == "worker"
    with pytest.raises(ValidationError, match=r"^agents/W.yaml:1: invalid agent id 'W'"):
        parse(b"name: w\n", agent_id="W", path="agents/W.yaml")
