"""Comparing raw Git trees: exactly the entries that differ, however the bytes fall,
and in nested trees exactly the files dulwich finds."""

from __future__ import annotations

from dulwich.diff_tree import tree_changes
from dulwich.object_store import MemoryObjectStore
from dulwich.objects import ObjectID, Tree
from hypothesis import given, settings
from hypothesis import strategies as st

from gitmem.git.tree import diff_trees, raw_entries, raw_tree_diff

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


FILE_MODES = [0o100644, 0o100755, 0o120000, 0o160000]
parts = st.sampled_from(["a", "b", "a.md", "a-b", "ab"])
paths = st.lists(parts, min_size=1, max_size=3).map("/".join)
files = st.dictionaries(
    paths, st.tuples(st.sampled_from(FILE_MODES), st.binary(min_size=20, max_size=20))
)


def store_tree(store: MemoryObjectStore, files: dict[str, tuple[int, bytes]]) -> Tree:
    """The tree holding ``files`` (path -> mode, raw sha), its subtrees added to ``store``."""
    tree = Tree()
    nested: dict[str, dict[str, tuple[int, bytes]]] = {}
    for path, (mode, sha) in files.items():
        top, _, rest = path.partition("/")
        if rest:
            nested.setdefault(top, {})[rest] = (mode, sha)
        else:
            tree.add(top.encode(), mode, ObjectID(sha.hex().encode()))
    for top, below in nested.items():
        sub = store_tree(store, below)
        tree.add(top.encode(), 0o040000, sub.id)
    store.add_object(tree)
    return tree


def without_clashes(files: dict[str, tuple[int, bytes]]) -> dict[str, tuple[int, bytes]]:
    """``files`` without those under a name that is a file too (a tree cannot hold both)."""
    return {p: e for p, e in files.items() if not any(p.startswith(f"{q}/") for q in files)}


@settings(max_examples=300, deadline=None)
@given(old=files, new=files, keep=st.lists(st.booleans(), max_size=12))
def test_diff_trees_agrees_with_dulwich_on_nested_trees(
    old: dict[str, tuple[int, bytes]], new: dict[str, tuple[int, bytes]], keep: list[bool]
) -> None:
    old = without_clashes(old)
    # Trees that share most files, as two commits do.
    shared = {p: e for (p, e), kept in zip(old.items(), keep, strict=False) if kept}
    new = without_clashes({**shared, **new})
    store = MemoryObjectStore()
    a, b = store_tree(store, old), store_tree(store, new)
    read = store.get_raw

    found: dict[bytes, list[object]] = {}
    for path, x, y in diff_trees(lambda sha: read(sha)[1], a.as_raw_string(), b.as_raw_string()):
        pair = found.setdefault(path, [None, None])
        pair[0] = (x[1], x[2].hex().encode()) if x else pair[0]
        pair[1] = (y[1], y[2].hex().encode()) if y else pair[1]

    expected: dict[bytes, list[object]] = {}
    for change in tree_changes(store, a.id, b.id):
        for i, side in enumerate((change.old, change.new)):
            if side is not None and side.path is not None:
                expected.setdefault(side.path, [None, None])[i] = (side.mode, side.sha)
    assert found == expected
