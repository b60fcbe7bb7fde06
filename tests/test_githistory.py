"""The git layer of history: exact tree comparison, the on-disk index of block
changes (kept, reused, repaired), and shallow clones."""

from __future__ import annotations

from pathlib import Path

from dulwich.objects import Tree
from hypothesis import given, settings
from hypothesis import strategies as st

import gitmem
from gitmem.githistory import INDEX_HEADER, GitHistory, _tree_diff
from gitmem.repo import GitRepo
from tests.conftest import git

MODES = [0o100644, 0o100755, 0o040000, 0o120000]
# Names that look like parts of records ("100644 x", digits, spaces) and shas with NUL
# bytes are where a byte-level comparison could lose its place.
names = st.text(alphabet="ab 1046.\0md", min_size=1, max_size=12).filter(lambda n: "\0" not in n)
entries = st.tuples(st.sampled_from(MODES), st.binary(min_size=20, max_size=20))
trees = st.dictionaries(names, entries, max_size=30)


def raw(entries: dict[str, tuple[int, bytes]]) -> bytes:
    tree = Tree()
    for name, (mode, sha) in entries.items():
        tree.add(name.encode(), mode, sha.hex().encode())
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
    for name, a, b in _tree_diff(raw(old), raw(new)):
        pair = found.setdefault(name.decode(), [None, None])  # a file that became a directory
        pair[0] = a or pair[0]  # comes as two entries: one gone, one new
        pair[1] = b or pair[1]

    expected = {
        name: [old.get(name), new.get(name)]
        for name in old.keys() | new.keys()
        if old.get(name) != new.get(name)
    }
    assert found == expected


def test_the_index_is_kept_reused_and_repaired(client: gitmem.Client) -> None:
    client.blocks.create(label="notes", value="one")
    client.blocks.update("notes", value="two")
    first = [r.commit for r in client.blocks.history("notes")]
    index = client.path / ".git/gitmem/history-index"
    lines = index.read_bytes().split(b"\n")
    assert lines[0] + b"\n" == INDEX_HEADER
    assert len(lines) == 1 + 3 + 1  # header, init and two commits, and the final newline

    # New commits are added to it, not worked out again from the start.
    client.blocks.update("notes", value="three")
    assert len(client.blocks.history("notes")) == 3
    assert len(index.read_bytes().split(b"\n")) == 1 + 4 + 1

    # A writer that died mid-line, and a damaged line: dropped, worked out again.
    data = index.read_bytes().split(b"\n")
    damaged = b"\n".join([data[0], b"xyz not a line", *data[3:-1]]) + b"\n0123abc"
    index.write_bytes(damaged)
    repo = GitRepo(client.path)
    again = GitHistory(repo)
    head = git(client.path, "rev-parse", "HEAD").strip()
    assert [c for c, _ in again.block_revisions("notes")] == [head, *first]
    assert index.read_bytes().endswith(b"\n")
    assert b"0123abc" not in index.read_bytes()

    # A store where the index cannot be written is answered all the same.
    index.unlink()
    index.mkdir()
    assert [c for c, _ in GitHistory(repo).block_revisions("notes")] == [head, *first]
    repo.close()


def test_shallow_clone_history_stops_where_the_clone_does(
    client: gitmem.Client, tmp_path: Path
) -> None:
    client.blocks.create(label="notes", value="one")
    client.blocks.update("notes", value="two")
    client.blocks.update("notes", value="three")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "2", f"file://{client.path}", str(clone))

    with gitmem.Client(clone) as shallow:
        revisions = shallow.blocks.history("notes")
        assert [r.subject for r in revisions] == ["update_block: notes", "update_block: notes"]
        assert shallow.blocks.retrieve("notes", at="HEAD~1").value == "two"
