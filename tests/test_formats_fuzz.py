"""Fuzzing the block and manifest formats: whatever the bytes, parsing gives either
an object that writes back to itself, or a GitmemError ``path:line: message``."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmem.errors import GitmemError, ValidationError
from gitmem.model import block as blockfmt
from gitmem.model import manifest as manifestfmt
from gitmem.model.block import Block
from gitmem.model.manifest import Agent
from gitmem.model.yamlmap import dump_mapping, load_mapping

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=500, deadline=None)
BLOCK_PATH = "blocks/x.md"
AGENT_PATH = "agents/w.yaml"
ONE_LINE = re.compile(r"(blocks/x\.md|agents/w\.yaml):\d+: [^\n]+")

# Pieces that mean something to YAML, to front matter or to line handling.
TOKENS = [
    "---",
    "...",
    "\n",
    "\r\n",
    "\r",
    " ",
    "  ",
    "\t",
    "-",
    "- ",
    ":",
    ": ",
    "? ",
    "#",
    "|",
    "|-",
    ">",
    "'",
    '"',
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a",
    "*a",
    "!!binary",
    "!!omap",
    "!!set",
    "!!str",
    "!!python/object",
    "<<",
    "=",
    "~",
    "null",
    "true",
    "yes",
    "0x1F",
    "1e400",
    ".nan",
    "2024-01-01",
    "label",
    "label: x",
    "description",
    "limit",
    "limit: 3",
    "read_only",
    "read_only: true",
    "readonly",
    "metadata",
    "metadata: {a: 1}",
    "blocks",
    "- x",
    "name",
    "model",
    "\ufeff",
    "\u2028",
    "\x85",
    "\x00",
    "é",
    "🙂",
    "\\u0000",
    '"\\ud800"',
]
KEYS = sorted({*blockfmt.KEYS, *manifestfmt.KEYS, "readonly", "Label", "value", "---", ""})

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.binary(max_size=10)
    | st.dates()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
token_soup = st.lists(st.sampled_from(TOKENS) | st.text(max_size=6), max_size=40).map("".join)


def _front_yaml(front: Mapping[str, object]) -> str:
    try:
        return yaml.safe_dump(front, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return ""


front_matter = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), values, max_size=6)
block_texts = st.one_of(
    st.binary(max_size=300),
    token_soup.map(str.encode),
    st.tuples(token_soup, token_soup).map(lambda t: f"---\n{t[0]}\n---\n{t[1]}".encode()),
    st.tuples(front_matter.map(_front_yaml), st.text(max_size=50)).map(
        lambda t: f"---\n{t[0]}---\n{t[1]}".encode()
    ),
)
manifest_texts = st.one_of(
    st.binary(max_size=300),
    token_soup.map(str.encode),
    front_matter.map(_front_yaml).map(str.encode),
)


def same(a: object, b: object) -> bool:
    """Equal, where NaN equals NaN (a NaN in metadata must still round-trip)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, (Block, Agent)) and type(a) is type(b):
        return all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return bool(a == b) and type(a) is type(b)


def parse_block(data: bytes) -> Block:
    return blockfmt.parse(data, block_id="x", path=BLOCK_PATH)


def parse_manifest(data: bytes) -> Agent:
    return manifestfmt.parse(data, agent_id="w", path=AGENT_PATH)


@pytest.mark.slow
@FUZZ
@given(block_texts)
def test_any_block_file_parses_to_a_round_tripping_block_or_one_line_error(data: bytes) -> None:
    try:
        block = parse_block(data)
    except GitmemError as e:
        assert ONE_LINE.fullmatch(str(e)), str(e)
        return
    again = parse_block(blockfmt.dump(block))
    assert same(again, block), (block, again)


@pytest.mark.slow
@FUZZ
@given(manifest_texts)
def test_any_manifest_parses_to_a_round_tripping_agent_or_one_line_error(data: bytes) -> None:
    try:
        agent = parse_manifest(data)
    except GitmemError as e:
        assert ONE_LINE.fullmatch(str(e)), str(e)
        return
    again = parse_manifest(manifestfmt.dump(agent))
    assert same(again, agent), (agent, again)


# -- values, labels and descriptions written through the API round-trip exactly --

PIECES = [
    "---",
    "\n---\n",
    "---\n",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "  trailing  ",
    "\n\n",
    "...",
    "label: injected",
    "\ufeff",
    "\u2028",
    "é",
    "🙂",
    "\x1b[31m",
    "'",
    '"',
    "#",
    ": ",
    "- ",
]
texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=10), max_size=12).map("".join)
storable = texts.filter(lambda t: blockfmt.field_problem("value", t) is None)
labels = (st.text(min_size=1, max_size=200) | texts).filter(
    lambda t: blockfmt.field_problem("label", t) is None
)


@pytest.mark.slow
@ROUND_TRIP
@given(value=storable, label=labels, description=texts, read_only=st.booleans())
def test_block_values_labels_and_descriptions_round_trip(
    value: str, label: str, description: str, read_only: bool
) -> None:
    block = Block(id="x", label=label, value=value, description=description, read_only=read_only)
    blockfmt.check(block)
    assert parse_block(blockfmt.dump(block)) == block


@pytest.mark.slow
@ROUND_TRIP
@given(name=texts.filter(str.strip), description=texts, model=st.none() | texts)
def test_manifest_text_fields_round_trip(name: str, description: str, model: str | None) -> None:
    agent = Agent(id="w", name=name, description=description, model=model, block_ids=("a", "b/c"))
    manifestfmt.check(agent)
    assert parse_manifest(manifestfmt.dump(agent)) == agent


@pytest.mark.slow
@ROUND_TRIP
@given(label=texts.filter(lambda t: blockfmt.field_problem("label", t) is not None))
def test_a_label_that_is_refused_is_never_written(label: str) -> None:
    block = Block(id="x", label=label)
    try:
        blockfmt.check(block)
    except ValidationError as e:
        assert str(e).startswith("block 'x': 'label' ")
    else:
        raise AssertionError(f"{label!r} was accepted")


def test_value_edge_cases_round_trip_exactly() -> None:
    for value in [
        "",
        "\n",
        "\n\n",
        " lead and trail ",
        "---",
        "a\n---\nb",
        "---\nlabel: evil\n---",
        "crlf\r\ninside\r\n",
        "cr only\r",
        "\ufeffbom first",
        "tab\tand unicode é 🙂 \u2028",
    ]:
        block = Block(id="x", label="l", value=value)
        assert parse_block(blockfmt.dump(block)).value == value


def test_a_label_with_a_newline_cannot_inject_keys() -> None:
    block = Block(id="x", label="x\nread_only: true")
    refused = "'label' must not contain control characters (newlines, tabs, ...)"
    with pytest.raises(ValidationError) as checked:
        blockfmt.check(block)
    assert str(checked.value) == f"block 'x': {refused}"
    with pytest.raises(ValidationError) as dumped:
        blockfmt.dump(block)
    assert str(dumped.value) == f"blocks/x.md:2: {refused}"
    # And YAML itself keeps it one value: no key is injected.
    text = dump_mapping({"label": block.label}, what="x")
    assert list(load_mapping(text, path="p", first_line=1, allowed=("label",)).values) == ["label"]
