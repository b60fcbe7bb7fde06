"""Git objects as raw bytes: ids, and loose objects read back without parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from dulwich.objects import Blob, ObjectID, Tree
from dulwich.repo import Repo

from gitmem.git.objects import LooseObjects, is_object_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0123456789abcdef0123456789abcdef01234567", True),
        (b"0123456789abcdef0123456789abcdef01234567", True),
        ("0123456789ABCDEF0123456789ABCDEF01234567", True),  # git reads upper case too
        ("0123456789abcdef0123456789abcdef0123456", False),
        ("0123456789abcdef" * 4, False),  # a SHA-256 id: not in a SHA-1 repository
        ("g" * 40, False),
        ("é" * 40, False),
        (b"\xff" * 40, False),
        (b"ref: refs/heads/main", False),
        ("", False),
    ],
)
def test_is_object_id(text: str | bytes, expected: bool) -> None:
    assert is_object_id(text) is expected


def test_loose_objects_read_back_as_dulwich_reads_them(tmp_path: Path) -> None:
    repo = Repo.init(str(tmp_path), mkdir=False)
    blob = Blob.from_string(b"a block\n")
    tree = Tree()
    tree.add(b"a.md", 0o100644, blob.id)
    loose = LooseObjects(repo.object_store)
    for obj in (blob, tree):
        assert loose.write(obj.type_name, obj.as_raw_string()) == obj.id
    loose.sync()

    for obj in (blob, tree):
        assert loose.read(obj.id) == repo.object_store.get_raw(obj.id)
    assert loose.read(ObjectID(b"1" * 40)) is None  # not loose (packed, or missing)
    repo.close()
