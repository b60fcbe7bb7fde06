"""Comparing raw Git trees: exactly the entries that differ, however the bytes fall."""

from __future__ import annotations

from dulwich.objects import ObjectID, Tree
from hypothesis import given, settings
from hypothesis import strategies as st

from gitmem.git.tree import raw_entries, raw_tree_diff

MODES = [0o100644, 0o100755, 0o040000, 0o120000]
# Names that look like parts of records ("100644 x", digits, spaces) and shas with NUL
# bytes are where a byte-level comparison could lose its place.
names = st.text(alphabet="ab 1046.\0md", min_size=1, max_size=12).filter(lambda n: "\0" not in n)
entries = st.tuples(st.sampled_from(MODES), st.binary(min_size=20, max_size=20))
trees = st.dictionaries(names, entries, max_size=30)


def raw(entries: dict[str, tuple[int, bytes]]) -> bytes:
    tree = Tree()
    for name, (mode, sha) in entries.items():
        tree.add(name.encode(), mode, ObjectID(sha.hex().encode()))
    return bytes(tree.as_raw_string())


@settings(max_examples=500, deadline=None)
@given(
    old=trees,
    changes=st.dictionaries(names, st.none() | entries, max_size=4),
    tweaks=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 19)), max_size=3),
)
def test_tree_diff_finds_exactly_the_changed_entries(
    old: dict[str, tuple[int, bytes]],
    changes: dict[str, tuple[int, bytes] | None],
    tweaks: list[tuple[int, int]],
) -> None:
    new = {k: v for k, v in {**old, **changes}.items() if v is not None}
    for entry, byte in tweaks:  # one byte of a sha: the smallest change there is
        if new:
            name = sorted(new)[entry % len(new)]
            mode, sha = new[name]
            new[name] = (mode, sha[:byte] + bytes([sha[byte] ^ 1]) + sha[byte + 1 :])

    found: dict[str, list[object]] = {}
    for path, a, b in raw_tree_diff(raw(old), raw(new)):
        pair = found.setdefault(path.decode(), [None, None])  # a file that became a directory
        pair[0] = a[1:] if a else pair[0]  # comes as two changes: one gone, one new
        pair[1] = b[1:] if b else pair[1]

    expected = {
        name: [old.get(name), new.get(name)]
        for name in old.keys() | new.keys()
        if old.get(name) != new.get(name)
    }
    assert found == expected


def test_raw_entries_reads_every_record() -> None:
    entries = {"a b": (0o100644, b"\0" * 20), "x": (0o040000, b"\1" * 20)}
    assert list(raw_entries(raw(entries))) == [
        (b"a b", 0o100644, b"\0" * 20),
        (b"x", 0o040000, b"\1" * 20),
    ]
