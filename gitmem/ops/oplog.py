"""What each commit of one side of a merge did to a block's value, read back
from the commits (their ``Gitmem-*`` trailers and the values before and
after), so a pull can replay them (gitmem/model/replay.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from dulwich.objects import Commit
from dulwich.walk import ORDER_TOPO

from gitmem.errors import CorruptError, ValidationError
from gitmem.git.commit import CommitId, LogEntry
from gitmem.git.repo import GitRepo
from gitmem.git.snapshot import diff
from gitmem.model import block as blockfmt
from gitmem.model.ids import block_id_of
from gitmem.model.replay import Op, classify

MERGED_BY_PULL = "pull"  # a merge gitmem made by replaying: its effect is its parents' ops
# How far back a person's copy's version is looked for, under the store lock:
# about 1 ms a commit; a copy older than that is merged three-way instead.
EDIT_WALK = 200


@dataclass
class _Values:
    """Block values by blob id, parsed once per merge."""

    repo: GitRepo
    default_limit: int
    found: dict[str | None, str | None] = field(default_factory=dict)

    def of(self, path: str, sha: str | None) -> str | None:
        """The value of the block file ``sha`` (None: no file, or not a valid block)."""
        if sha not in self.found:
            self.found[sha] = None
            block_id = block_id_of(path)
            if sha is not None and block_id is not None:
                try:
                    data = self.repo.blob(sha)
                    self.found[sha] = blockfmt.parse(
                        data, block_id=block_id, path=path, default_limit=self.default_limit
                    ).value
                except (ValidationError, CorruptError):
                    pass
        return self.found[sha]


def side_ops(
    repo: GitRepo,
    side: CommitId,
    other: CommitId | None,
    paths: Collection[str],
    default_limit: int,
) -> dict[str, list[Op]]:
    """For each block file in ``paths``: the operations on its value made by the
    commits ``side`` has and ``other`` has not, oldest first (parents before
    children)."""
    found: dict[str, list[Op]] = {path: [] for path in paths}
    if not paths:
        return found
    values = _Values(repo, default_limit)
    walker = repo.git.get_walker(
        include=[side], exclude=[other] if other else None, order=ORDER_TOPO, reverse=True
    )
    wanted = set(paths)
    for walked in walker:
        commit: Commit = walked.commit
        entry = LogEntry.from_commit(commit)
        if len(commit.parents) > 1 and entry.op == MERGED_BY_PULL:
            continue
        snap = repo.snapshot(commit.id)
        parents = [repo.snapshot(p) for p in commit.parents]
        if len(parents) == 1:  # the common case: read only the trees that differ
            touched = wanted.intersection(path for path, _, _ in diff(parents[0], snap))
        else:
            touched = {p for p in wanted if snap.blob_id(p) not in [q.blob_id(p) for q in parents]}
        key = (commit.commit_time, commit.id.decode())
        who = entry.agent or commit.author.decode(errors="replace").split(" <")[0]
        for path in sorted(touched):
            old = values.of(path, parents[0].blob_id(path) if parents else None)
            new = values.of(path, snap.blob_id(path))
            if old == new:
                continue  # front matter only: merged key by key
            if len(parents) > 1 or new is None:
                # A merge made by a person, or the block gone or broken here:
                # nothing to replay, only a value to keep.
                found[path].append(Op("edit", key, who, entry.op or "merge", text=new or ""))
                continue
            found[path].append(classify(entry.op, entry.args, old or "", new, key=key, who=who))
    return found


def edit_ops(
    repo: GitRepo,
    head: CommitId | None,
    path: str,
    base: str,
    data: bytes,
    default_limit: int,
    who: str,
    max_commits: int = EDIT_WALK,
) -> tuple[list[Op], list[Op]] | None:
    """Both sides of merging a person's saved block file ``data``, derived from
    version ``base``, with the branch at ``head``: the person's edit as one
    operation, and the branch's operations on the block since it was ``base``
    (found within ``max_commits`` along first parents); None when either
    cannot be read (then the merge is three-way)."""
    values = _Values(repo, default_limit)
    start, sha, seen = values.of(path, base), head, 0
    while sha is not None and seen < max_commits:
        if repo.snapshot(sha).blob_id(path) == base:
            break
        parents = repo.object(sha, Commit).parents
        sha, seen = (parents[0] if parents else None), seen + 1
    block_id = block_id_of(path)
    if sha is None or seen == max_commits or start is None or block_id is None or head is None:
        return None
    try:
        mine = blockfmt.parse(data, block_id=block_id, path=path, default_limit=default_limit)
    except ValidationError:
        return None
    theirs = side_ops(repo, head, sha, [path], default_limit)[path]
    # The person saves now: after every operation the branch has.
    edit = classify(None, None, start, mine.value, key=(2**63, "person"), who=who)
    return ([edit] if mine.value != start else []), theirs
