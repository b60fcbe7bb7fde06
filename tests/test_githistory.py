"""The git layer of history: the on-disk index of block changes (kept, reused,
repaired) and shallow clones."""

from __future__ import annotations

from pathlib import Path

import gitmem
from gitmem.git.log import INDEX_HEADER
from gitmem.git.repo import GitRepo
from gitmem.model.block import MAX_FILE_BYTES
from gitmem.ops.view import block_history
from tests.conftest import git


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
    repo = GitRepo(client.path, max_file=MAX_FILE_BYTES)
    again = block_history(repo)
    head = git(client.path, "rev-parse", "HEAD").strip()
    assert [c for c, _ in again.revisions("notes")] == [head, *first]
    assert index.read_bytes().endswith(b"\n")
    assert b"0123abc" not in index.read_bytes()

    # A store where the index cannot be written is answered all the same.
    index.unlink()
    index.mkdir()
    assert [c for c, _ in block_history(repo).revisions("notes")] == [head, *first]
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
