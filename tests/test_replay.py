"""Replaying memory operations onto a block's value (gitmem/model/replay.py), pure."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from gitmem.model.replay import Op, Replayed, apply, classify, merge_values

A = "worker"


def op(name: str, before: str, after: str, t: int, args: Mapping[str, object] | None = None) -> Op:
    return classify(name, args, before, after, key=(t, f"{t:040x}"), who=A)


def test_an_insert_is_read_from_its_diff_with_the_line_it_followed() -> None:
    assert op("memory_insert", "a\nb", "a\nb\nc", 1) == Op(
        "insert", (1, f"{1:040x}"), A, "memory_insert", text="c", at_end=True
    )
    assert op("memory_insert", "a\nb", "a\nx\ny\nb", 1).after == "a"
    assert op("memory_insert", "a\nb", "x\na\nb", 1).after is None
    assert op("memory_insert", "", "x", 1).at_end


def test_a_replace_is_read_from_its_arguments_when_they_match_the_commit() -> None:
    args = {"old_string": "08:00", "new_string": "09:00"}
    found = op("memory_replace", "open 08:00", "open 09:00", 1, args)
    assert (found.kind, found.old, found.text) == ("replace", "08:00", "09:00")
    # Arguments that do not explain the commit are not trusted.
    assert op("memory_replace", "open 08:00", "open 10:00", 1, args).kind == "edit"


def test_rewrites_and_edits() -> None:
    assert op("memory_rethink", "a", "b", 1) == Op(
        "rewrite", (1, f"{1:040x}"), A, "memory_rethink", "b"
    )
    assert op("commit", "a\nb", "a\nB", 1).kind == "edit"
    assert op("commit", "a\nb", "a\nb\nc", 1).kind == "insert"  # a person's append replays
    assert op("update_block", "a", "a\nb", 1).kind == "insert"  # an append made by rewriting


def test_inserts_on_both_sides_all_land_in_either_direction() -> None:
    base = "h"
    ours = [op("memory_insert", "h", "h\nA1", 1), op("memory_insert", "h\nA1", "h\nA1\nA2", 3)]
    theirs = [op("memory_insert", "h", "h\nB1", 2)]
    assert merge_values("h\nA1\nA2", "h\nB1", ours, theirs) == Replayed("h\nA1\nA2\nB1")
    assert merge_values("h\nB1", "h\nA1\nA2", theirs, ours) == Replayed("h\nB1\nA1\nA2")
    assert base  # the base value is never needed: each side's value holds its own ops


def test_an_insert_in_the_middle_follows_its_line() -> None:
    theirs = [op("memory_insert", "a\nb\nc", "a\nb\nnew\nc", 2)]
    ours = [op("memory_insert", "a\nb\nc", "top\na\nb\nc", 1)]
    merged = merge_values("top\na\nb\nc", "a\nb\nnew\nc", ours, theirs)
    assert merged is not None
    assert merged.value == "top\na\nb\nnew\nc"


def test_an_insert_whose_line_is_gone_conflicts_unless_settled() -> None:
    theirs = [op("memory_insert", "a\nb", "a\nnew\nb", 2)]
    ours = [op("memory_rethink", "a\nb", "z\nb", 1)]
    merged = merge_values("z\nb", "a\nnew\nb", ours, theirs)
    assert merged is not None
    assert [f.why for f in merged.failed] == ["the line it was inserted after ('a') is gone"]
    settled = merge_values("z\nb", "a\nnew\nb", ours, theirs, prefer="ours")
    assert settled is not None and settled.value == "z\nb\nnew"  # never dropped


def test_a_replace_lands_while_its_text_appears_once() -> None:
    args = {"old_string": "[todo] T-2", "new_string": "[done] T-2"}
    ours = [op("memory_insert", "[todo] T-2", "[todo] T-2\n[todo] T-3", 2)]
    theirs = [op("memory_replace", "[todo] T-2", "[done] T-2", 1, args)]
    merged = merge_values("[todo] T-2\n[todo] T-3", "[done] T-2", ours, theirs)
    assert merged == Replayed("[done] T-2\n[todo] T-3")


def test_the_same_replace_on_both_sides_is_made_once() -> None:
    args = {"old_string": "x", "new_string": "y"}
    ours = [op("memory_replace", "x", "y", 1, args)]
    theirs = [op("memory_replace", "x", "y", 2, args)]
    assert merge_values("y", "y", ours, theirs) == Replayed("y")


def test_the_later_rewrite_wins_and_later_inserts_land_on_it() -> None:
    ours = [op("memory_rethink", "v", "ours", 5), op("memory_insert", "ours", "ours\nafter", 9)]
    theirs = [
        op("memory_insert", "v", "v\nearly", 1),
        op("memory_rethink", "v\nearly", "theirs", 7),
    ]
    # theirs' rewrite (7) beats ours (5); our insert (9) came after it and lands on it.
    one = merge_values("ours\nafter", "theirs", ours, theirs)
    other = merge_values("theirs", "ours\nafter", theirs, ours)
    assert one == other == Replayed("theirs\nafter")


def test_edits_on_both_sides_cannot_be_replayed() -> None:
    ours = [op("commit", "a\nb", "A\nb", 1)]
    theirs = [op("commit", "a\nb", "a\nB", 2)]
    assert merge_values("A\nb", "a\nB", ours, theirs) is None


def test_an_edit_stays_on_the_side_we_start_from() -> None:
    ours = [op("memory_insert", "a", "a\nagent", 1)]
    theirs = [op("commit", "a", "A", 2)]
    assert merge_values("a\nagent", "A", ours, theirs) == Replayed("A\nagent")


lines = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4)


@given(lines, st.lists(st.tuples(lines, st.booleans()), max_size=4))
def test_appends_from_both_sides_land_once_each(
    base: list[str], adds: list[tuple[list[str], bool]]
) -> None:
    values = {True: "\n".join(base), False: "\n".join(base)}
    ops: dict[bool, list[Op]] = {True: [], False: []}
    for t, (added, ours) in enumerate(adds):
        if not added:
            continue
        before = values[ours]
        after = "\n".join([*before.split("\n"), *added]) if before else "\n".join(added)
        ops[ours].append(op("memory_insert", before, after, t))
        values[ours] = after
    merged = merge_values(values[True], values[False], ops[True], ops[False])
    assert merged is not None and not merged.failed
    expected = sorted(base + [x for added, _ in adds for x in added])
    assert sorted(merged.value.split("\n") if merged.value else []) == expected


def test_apply_refuses_to_replay_an_edit() -> None:
    assert apply("v", Op("edit", (1, "x"), A, "commit", "w")) == (
        "v",
        "a person's edit cannot be replayed",
    )
