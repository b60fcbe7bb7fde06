"""Block files: exact round trips and one-line `path:line: message` errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitmem.errors import LimitExceededError, ValidationError
from gitmem.model.block import Block, check, dump, parse

PATH = "blocks/x.md"


def parse_text(text: str | bytes, limit: int = 20000) -> Block:
    data = text.encode() if isinstance(text, str) else text
    return parse(data, block_id="x", path=PATH, default_limit=limit)


values = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"))
labels = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=200).filter(
    str.strip
)


@given(
    value=st.one_of(
        values,
        st.sampled_from(
            ["", "\n", "---", "a\n---\nb", "\n\n x \n", "---\nlabel: y\n---\n", "é✓\n"]
        ),
    ),
    label=labels,
    description=st.one_of(values, st.just("line one\n---\nline three")),
    read_only=st.booleans(),
    metadata=st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5))),
)
def test_parse_dump_round_trips_every_value_exactly(
    value: str, label: str, description: str, read_only: bool, metadata: dict[str, object]
) -> None:
    block = Block(
        id="x",
        label=label,
        value=value,
        description=description,
        limit=max(1, len(value)),
        read_only=read_only,
        metadata=metadata,
    )
    assert parse_text(dump(block), limit=1) == block


def test_file_shape_is_stable_and_readable() -> None:
    block = Block(id="x", label="organization", value="Policies...", description="Shared.")
    assert dump(block) == (
        b"---\nlabel: organization\ndescription: Shared.\nlimit: 20000\nread_only: false\n"
        b"---\nPolicies...\n"
    )
    assert dump(Block(id="x", label="l", value="")).endswith(b"read_only: false\n---\n")


def test_an_editors_final_newline_and_crlf_do_not_change_the_value() -> None:
    assert parse_text("---\nlabel: l\n---\nvalue\n").value == "value"
    assert parse_text("---\nlabel: l\n---\nvalue").value == "value"
    assert parse_text("---\r\nlabel: l\r\n---\r\na\r\nb\r\n").value == "a\nb"
    assert parse_text("\ufeff---\nlabel: l\n---\nv\n").value == "v"
    assert parse_text("---\nlabel: l\n---").value == ""


def test_defaults_come_from_the_store() -> None:
    block = parse_text("---\nlabel: l\n---\n", limit=123)
    assert (block.description, block.limit, block.read_only, block.metadata) == ("", 123, False, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "label: l\n",
            "blocks/x.md:1: missing front matter: the file must start with a '---' line",
        ),
        ("---\nlabel: l\n", "blocks/x.md:1: front matter is not closed by a '---' line"),
        ("---\ndescription: d\n---\n", "blocks/x.md:1: missing 'label' in the front matter"),
        (
            "---\nlabel: l\nreadonly: true\n---\n",
            "blocks/x.md:3: unknown key 'readonly' "
            "(allowed: label, description, limit, read_only, metadata)",
        ),
        ("---\nlabel: l\nlabel: m\n---\n", "blocks/x.md:3: duplicate key 'label'"),
        (
            "---\nlabel: l\nlimit: many\n---\n",
            "blocks/x.md:3: 'limit' must be a positive whole number, not 'many'",
        ),
        (
            "---\nlabel: l\nlimit: 0\n---\n",
            "blocks/x.md:3: 'limit' must be a positive whole number, not 0",
        ),
        (
            "---\nlabel: l\nlimit: true\n---\n",
            "blocks/x.md:3: 'limit' must be a positive whole number, not True",
        ),
        (
            "---\nlabel: l\n\nread_only: 2\n---\n",
            "blocks/x.md:4: 'read_only' must be true or false, not 2",
        ),
        (
            "---\nlabel: l\nmetadata: [1]\n---\n",
            "blocks/x.md:3: 'metadata' must be a mapping of keys to values, not list",
        ),
        ("---\nlabel: 12\n---\n", "blocks/x.md:2: 'label' must be non-empty text"),
        ("---\n- a\n---\n", "blocks/x.md:2: expected 'key: value' lines, not a sequence"),
        (
            "---\nlabel: l\nlimit: 5\n---\nline one\ntoo long\n",
            "blocks/x.md:5: value is too long: 17 characters requested, 5 allowed",
        ),
    ],
)
def test_errors_are_one_line_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_text(text)
    assert str(info.value) == message


def test_invalid_yaml_names_the_line() -> None:
    # The wording after "invalid YAML:" is PyYAML's (libyaml's when present).
    with pytest.raises(ValidationError) as info:
        parse_text("---\nlabel: l\ndescription: [oops\n---\n")
    assert str(info.value).startswith("blocks/x.md:3: invalid YAML: ")
    assert "\n" not in str(info.value)


def test_over_limit_is_a_limit_error() -> None:
    with pytest.raises(LimitExceededError):
        parse_text("---\nlabel: l\nlimit: 1\n---\nab\n")


def test_non_utf8_and_nul_name_the_line() -> None:
    with pytest.raises(ValidationError, match=r"^blocks/x.md:3: not valid UTF-8 \(byte 0xff\)$"):
        parse_text(b"---\nlabel: l\n\xff\n---\n")
    with pytest.raises(ValidationError, match=r"^blocks/x.md:4: contains a NUL byte$"):
        parse_text(b"---\nlabel: l\n---\na\0\n")


def test_invalid_id_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"^blocks/A b.md:1: invalid block id 'A b'"):
        parse(b"---\nlabel: l\n---\n", block_id="A b", path="blocks/A b.md")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": "two\nlines"}, "block 'x': 'label' must not contain control characters"),
        ({"label": "x" * 201}, "block 'x': 'label' is 201 characters, over the maximum of 200"),
        (
            {"value": "abc", "limit": 2},
            "block 'x': value is too long: 3 characters requested, 2 allowed",
        ),
        ({"id": "../etc"}, "invalid block id '../etc'"),
    ],
)
def test_check_refuses_bad_fields(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        check(Block(**{"id": "x", "label": "l", **changes}))  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
