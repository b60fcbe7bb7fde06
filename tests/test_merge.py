"""The block-aware 3-way merge: examples, then properties over generated files."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gitmem.model.block import Block, dump
from gitmem.model.manifest import Agent
from gitmem.model.manifest import dump as dump_agent
from gitmem.model.merge import Hunk, merge_file, merge_lines

PATH = "blocks/notes.md"


def block(value: str, **fields: object) -> bytes:
    return dump(Block("notes", **{"label": "notes", "value": value, **fields}))  # type: ignore[arg-type]


def agent(*blocks: str, **fields: object) -> bytes:
    return dump_agent(Agent("worker", **{"name": "worker", "block_ids": blocks, **fields}))  # type: ignore[arg-type]


def test_both_sides_appending_keeps_both_appends_ours_first() -> None:
    merged = merge_file(PATH, block("a\nb"), block("a\nb\nmine"), block("a\nb\ntheirs"))
    assert merged.clean
    assert merged.data == block("a\nb\nmine\ntheirs")


def test_appends_to_an_empty_value_keep_both() -> None:
    merged = merge_file(PATH, block(""), block("x"), block("y"))
    assert merged.data == block("x\ny")


def test_edits_of_different_lines_and_keys_merge_cleanly() -> None:
    base = block("one\ntwo\nthree\nfour", limit=100)
    ours = block("ONE\ntwo\nthree\nfour", limit=100, description="mine")
    theirs = block("one\ntwo\nthree\nFOUR", limit=200)
    merged = merge_file(PATH, base, ours, theirs)
    assert merged.data == block("ONE\ntwo\nthree\nFOUR", limit=200, description="mine")


def test_overlapping_edits_conflict_with_base_ours_and_theirs_of_each_hunk() -> None:
    base = block("a\nb\nc", limit=100)
    merged = merge_file(PATH, base, block("a\nB\nc", limit=200), block("a\nb2\nc", limit=300))
    assert merged.data is None
    assert merged.conflicts == (
        Hunk("'limit'", "limit: 100", "limit: 200", "limit: 300"),
        Hunk("value line 2", "b", "B", "b2"),
    )
    assert merged.marked == (
        b"---\nlabel: notes\ndescription: ''\n"
        b"<<<<<<< ours\nlimit: 200\n=======\nlimit: 300\n>>>>>>> theirs\n"
        b"read_only: false\n---\n"
        b"a\n<<<<<<< ours\nB\n=======\nb2\n>>>>>>> theirs\nc\n"
    )
    assert merged.report("yours", "branch") == (
        "blocks/notes.md: conflict in 'limit':\n"
        "  base:   limit: 100\n  yours:  limit: 200\n  branch: limit: 300\n"
        "blocks/notes.md: conflict in value line 2:\n"
        "  base:   b\n  yours:  B\n  branch: b2"
    )


def test_a_strategy_resolves_conflicting_hunks_and_keeps_the_rest_from_both() -> None:
    base = block("a\nb\nc\nd\ne")
    ours, theirs = block("A\nb\nmine\nd\ne"), block("a\nb\ntheirs\nd\nE")
    assert merge_file(PATH, base, ours, theirs).conflicts == (
        Hunk("value line 3", "c", "mine", "theirs"),
    )
    by_ours = merge_file(PATH, base, ours, theirs, strategy="ours")
    assert by_ours.clean and by_ours.data == block("A\nb\nmine\nd\nE")
    by_theirs = merge_file(PATH, base, ours, theirs, strategy="theirs")
    assert by_theirs.data == block("A\nb\ntheirs\nd\nE")


def test_a_merged_value_over_the_limit_is_refused_with_path_and_line() -> None:
    merged = merge_file(
        PATH, block("ab", limit=5), block("ab\ncd", limit=5), block("ab\nef", limit=5)
    )
    assert not merged.clean and not merged.conflicts
    assert merged.error == "blocks/notes.md:7: value is too long: 8 characters requested, 5 allowed"
    assert merged.marked == block("ab\ncd\nef", limit=5)


def test_an_invalid_side_is_reported_and_merged_as_text() -> None:
    ours = b"---\nlabel: notes\nreadonly: true\n---\nx\n"
    merged = merge_file(PATH, block("x"), ours, block("x", description="d"))
    assert merged.data is None and merged.marked is not None
    assert merged.error == (
        "blocks/notes.md:3: unknown key 'readonly' "
        "(allowed: label, description, limit, read_only, metadata)"
    )


def test_delete_against_a_change_conflicts_and_delete_against_nothing_deletes() -> None:
    assert merge_file(PATH, block("x"), None, block("x")).data is None
    assert merge_file(PATH, block("x"), None, block("x")).clean
    merged = merge_file(PATH, block("x"), None, block("y"))
    assert merged.conflicts == (
        Hunk(
            "the whole file (deleted on one side)", block("x").decode(), None, block("y").decode()
        ),
    )
    assert merge_file(PATH, block("x"), None, block("y"), strategy="theirs").data == block("y")


def test_git_empty_base_file_means_added_on_both_sides() -> None:
    merged = merge_file(PATH, b"", block("x"), block("y"))
    assert merged.conflicts == (Hunk("value line 1", None, "x", "y"),)


def test_manifests_merge_attachments_as_sets() -> None:
    base = agent("a", "b")
    ours = agent("a", "b", "c")  # attached c
    theirs = agent("b", "d")  # detached a, attached d
    merged = merge_file("agents/worker.yaml", base, ours, theirs)
    assert merged.data == agent("b", "c", "d")


def test_manifest_keys_conflict_key_by_key() -> None:
    base = agent("a", description="x")
    merged = merge_file(
        "agents/worker.yaml", base, agent("a", "b", description="y"), agent("a", description="z")
    )
    assert merged.conflicts == (
        Hunk("'description'", "description: x", "description: y", "description: z"),
    )
    assert merged.marked == (
        b"name: worker\n<<<<<<< ours\ndescription: y\n=======\ndescription: z\n>>>>>>> theirs\n"
        b"blocks:\n- a\n- b\nmetadata: {}\n"
    )


# -- properties ----------------------------------------------------------------

lines = st.lists(st.sampled_from(["a", "b", "c", "d", ""]), max_size=6)
values = lines.map("\n".join)
blocks = st.builds(
    lambda value, label, limit, read_only, description: block(
        value, label=label, limit=limit, read_only=read_only, description=description
    ),
    values,
    st.sampled_from(["notes", "persona"]),
    st.sampled_from([100, 200]),
    st.booleans(),
    st.sampled_from(["", "one", "two"]),
)
PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(blocks, blocks)
def test_merge_with_theirs_unchanged_is_ours(base: bytes, ours: bytes) -> None:
    assert merge_file(PATH, base, ours, base).data == ours


@PROPERTY
@given(blocks, blocks)
def test_merge_with_ours_unchanged_is_theirs(base: bytes, theirs: bytes) -> None:
    assert merge_file(PATH, base, base, theirs).data == theirs


appended = st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3)


def in_order(lines: list[str], wanted: list[str]) -> bool:
    rest = iter(lines)
    return all(w in rest for w in wanted)


@PROPERTY
@given(lines, appended, appended)
def test_disjoint_appends_keep_both(base: list[str], mine: list[str], theirs: list[str]) -> None:
    assume(mine != theirs and base != [""])  # [""] is the empty value, which has no lines
    # Lines that already appear in order on the other side count as merged there.
    assume(not in_order(mine, theirs) and not in_order(theirs, mine))
    merged = merge_file(
        PATH, block("\n".join(base)), block("\n".join(base + mine)), block("\n".join(base + theirs))
    )
    assert merged.data == block("\n".join(base + mine + theirs))


@PROPERTY
@given(values, values, values)
def test_line_merge_is_symmetric_up_to_order(base: str, ours: str, theirs: str) -> None:
    one, other = merge_lines(base, ours, theirs), merge_lines(base, theirs, ours)
    assert [(h.base, h.ours, h.theirs) for h in one.conflicts] == [
        (h.base, h.theirs, h.ours) for h in other.conflicts
    ]
    if not one.conflicts:
        assert sorted(one.merged.split("\n")) == sorted(other.merged.split("\n"))


@PROPERTY
@given(blocks, blocks, blocks)
def test_file_merge_is_symmetric_up_to_order(base: bytes, ours: bytes, theirs: bytes) -> None:
    one, other = merge_file(PATH, base, ours, theirs), merge_file(PATH, base, theirs, ours)
    assert one.clean == other.clean
    assert len(one.conflicts) == len(other.conflicts)
    if one.data is not None and other.data is not None:
        assert sorted(one.data.split(b"\n")) == sorted(other.data.split(b"\n"))


attachments = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=5)


@PROPERTY
@given(attachments, attachments, attachments)
def test_attachments_merge_as_sets(base: list[str], ours: list[str], theirs: list[str]) -> None:
    merged = merge_file("agents/worker.yaml", agent(*base), agent(*ours), agent(*theirs))
    expected = (set(ours) & set(theirs)) | (set(ours) - set(base)) | (set(theirs) - set(base))
    assert merged.data is not None
    got = [line[2:] for line in merged.data.decode().split("\n") if line.startswith("- ")]
    assert sorted(got) == sorted(expected)
