"""What a fetch brought into the store: the packs it wrote, checked as strictly
as ``git fsck`` (transfer.fsckObjects) before any ref names them, and taken
away again when refused, so that nothing of a hostile remote stays behind."""

from __future__ import annotations

import os
from contextlib import suppress

from dulwich.objects import ObjectID
from dulwich.pack import load_pack_index

from gitmem.git import fsck as gitcheck
from gitmem.git.commit import Change
from gitmem.git.repo import GitRepo
from gitmem.git.snapshot import Snapshot


def packs(repo: GitRepo) -> set[str]:
    """The store's packs, by path without the ``.pack``."""
    pack_dir = repo.git.object_store.pack_dir
    return {
        os.path.join(pack_dir, name.removesuffix(".pack"))
        for name in os.listdir(pack_dir)
        if name.endswith(".pack")
    }


def refusal(repo: GitRepo, tip: ObjectID, had: set[str]) -> str | None:
    """What is wrong with ``tip`` (the commit a remote's branch names) and the
    packs written since the store had ``had``; when something is, those packs
    are gone when this returns. The caller holds the transfer lock: no other
    fetch writes packs meanwhile."""
    arrived = packs(repo) - had
    problem = gitcheck.arrived_problem(repo.git, tip, _objects_in(repo, arrived))
    if problem is not None:
        _drop(repo, arrived)
    return problem


def _objects_in(repo: GitRepo, found: set[str]) -> list[ObjectID]:
    objects: list[ObjectID] = []
    for base in found:
        index = load_pack_index(base + ".idx", repo.git.object_format)
        try:
            objects += index
        finally:
            index.close()
    return objects


def _drop(repo: GitRepo, refused: set[str]) -> None:
    """Delete refused packs, under the store lock. An operation may have found
    one of their blobs stored already (no blob a pack holds is written again)
    and committed it: such blobs are written loose first."""
    store = repo.git.object_store
    in_packs = set(_objects_in(repo, refused))

    def build(snap: Snapshot) -> tuple[Change | None, None]:
        used = {
            sha.encode()
            for top in snap.tree
            for _, _, sha in snap.entries(top.name.decode(errors="surrogateescape"))
        }
        for sha in used & in_packs:
            store.add_object(store[ObjectID(sha)])
        store.close()  # forget the open packs; the others are opened again on use
        for base in refused:
            for ext in (".pack", ".idx", ".rev", ".bitmap", ".keep"):
                with suppress(FileNotFoundError):
                    os.remove(base + ext)
        return None, None

    repo.transact(build)
