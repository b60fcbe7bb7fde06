"""Sync between deployments: ``clone``, ``pull``, ``push`` and ``sync`` over any
Git remote, with nothing lost.

A pull fetches, then, under the store lock like every operation: fast-forwards
when our branch has nothing the remote lacks, else makes a merge commit whose
second parent is the remote's. Every file changed on both sides is merged by
``merge.merge_file``; for a block, with each side's operations since they
parted (``oplog.side_ops``), so the remote's are replayed onto ours and
concurrent memory inserts never conflict. What arrives is checked like any write
(``validate.check_incoming``). A conflict or an invalid file refuses the whole
pull: branch, index and files stay as they were. Files a person changed and
has not committed are left alone, as by every operation; ``gitmem commit``
merges them afterwards from the version they started from.
"""

from __future__ import annotations

import fcntl
import glob
import os
import random
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gitmem.errors import ConflictError, ValidationError
from gitmem.git import remote as gitremote
from gitmem.git import safefs
from gitmem.git.commit import Change, CommitId
from gitmem.git.objects import blob_id
from gitmem.git.remote import Progress, PushRejected, Remote
from gitmem.git.repo import GitRepo
from gitmem.git.snapshot import FileEntry, Snapshot
from gitmem.model.ids import agent_id_of, block_id_of
from gitmem.model.merge import Merged, Strategy, merge_file
from gitmem.model.settings import SETTINGS
from gitmem.ops import hooks
from gitmem.ops.oplog import side_ops
from gitmem.ops.store import Store
from gitmem.ops.validate import REGULAR_FILE, check_incoming, pull_refusal
from gitmem.ops.view import View

SYNC_ATTEMPTS = 5
RETRY_PAUSE = 0.02  # seconds; the first retry of a sync waits up to this long


@dataclass(frozen=True)
class Pulled:
    """What a pull did: ``how`` is "up to date", "fast-forward" or "merge" (a
    merge commit); ``commits`` arrived; ``blocks`` changed here (ids);
    ``merged`` lists the files both sides had changed, merged block by block;
    ``settled`` says what ``--strategy`` dropped or moved, a line each."""

    remote: str
    how: str
    commits: int = 0
    blocks: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
    settled: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pushed:
    """What a push did: ``pushed`` is False when the remote had our commits already."""

    remote: str
    pushed: bool


@dataclass(frozen=True)
class Synced:
    """A sync: each pull it made (more than one when the remote moved before
    the push), then the push."""

    pulls: tuple[Pulled, ...]
    push: Pushed


class MergeConflict(ConflictError):
    """A pull whose changes conflict with this store's; nothing was changed."""

    def __init__(self, remote: str, conflicts: Sequence[Merged]) -> None:
        self.conflicts = tuple(conflicts)
        lines = [
            f"pull from {remote}: {len(conflicts)} file(s) conflict with changes made here; "
            "nothing was changed (pull again with --strategy ours|theirs, or change "
            "one side and sync)"
        ]
        lines += [merged.report() for merged in conflicts]
        super().__init__("\n".join(lines))


def pull(
    store: Store,
    remote: str | None = None,
    *,
    strategy: Strategy | None = None,
    progress: Progress | None = None,
) -> Pulled:
    """Fetch ``remote`` (a name or URL; default: the branch's upstream, else
    origin) and merge its branch into ours."""
    where = gitremote.find_remote(store.repo, remote)
    theirs = gitremote.fetch(store.repo, where, progress)
    if theirs is None:
        return Pulled(where.label, "up to date")
    return _merge(store, where, theirs, strategy)


def push(store: Store, remote: str | None = None, *, progress: Progress | None = None) -> Pushed:
    """Push our branch to ``remote``; refused (PushRejected) if the remote moved."""
    where = gitremote.find_remote(store.repo, remote)
    return Pushed(where.label, gitremote.push(store.repo, where, progress))


def sync(
    store: Store,
    remote: str | None = None,
    *,
    strategy: Strategy | None = None,
    progress: Progress | None = None,
    attempts: int = SYNC_ATTEMPTS,
) -> Synced:
    """Pull, then push; while the push is rejected because the remote moved
    meanwhile, pull and push again (at most ``attempts`` rounds)."""
    pulls = []
    for attempt in range(attempts):
        pulls.append(pull(store, remote, strategy=strategy, progress=progress))
        try:
            return Synced(tuple(pulls), push(store, remote, progress=progress))
        except PushRejected:
            # Deployments that lost the race together would retry together and
            # lose again: wait a random, growing while first.
            time.sleep(random.uniform(0, RETRY_PAUSE * 2**attempt))
    raise ConflictError(
        f"sync with {pulls[-1].remote}: the remote moved again before each of {attempts} "
        "pushes; everything pulled is merged here, run sync again to push"
    )


def clone(url: str, path: str | Path, *, progress: Progress | None = None) -> Store:
    """Copy the store at ``url`` into a new directory ``path``, checked like a
    pull, with gitmem's hooks and merge driver installed as ``init`` does.

    The copy is made in a hidden sibling directory and renamed to ``path`` once
    complete, so a clone that fails or is killed leaves no ``path`` behind; the
    next clone next to it removes what a killed one left.
    """
    root = Path(path).resolve()
    if root.exists() and any(root.iterdir()):
        raise ValidationError(f"{root} exists and is not empty")
    root.parent.mkdir(parents=True, exist_ok=True)
    with _clone_dir(root) as tmp:
        GitRepo.init(tmp)
        store = Store(tmp)
        try:
            theirs = gitremote.start_clone(store.repo, url, progress)
            if store.repo.snapshot(theirs).blob_id(SETTINGS) is None:
                raise ValidationError(f"{url} is not a gitmem store: it has no {SETTINGS}")
            _merge(store, gitremote.find_remote(store.repo, "origin"), theirs, None)
            hooks.install(store.repo)
        finally:
            store.close()
        os.rename(tmp, root)  # replaces an empty directory; fails if one was filled meanwhile
        safefs.fsync(root.parent)
    return Store(root)


@contextmanager
def _clone_dir(root: Path) -> Iterator[Path]:
    """A new hidden directory beside ``root``, held (``flock``) while the clone
    runs and removed if it fails; first, those killed clones into ``root`` left."""
    tmp = root.parent / f".{root.name}.clone-{secrets.token_hex(4)}"
    parent = os.open(root.parent, os.O_RDONLY)
    try:
        fcntl.flock(parent, fcntl.LOCK_EX)  # clones beside each other start one at a time
        _remove(root)
        tmp.mkdir()
        fd = os.open(tmp, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(parent)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(fd)


def _remove(root: Path) -> None:
    """Remove what clones into ``root`` that were killed left: hidden sibling
    directories no running clone holds."""
    for leftover in root.parent.glob(f".{glob.escape(root.name)}.clone-*"):
        try:
            fd = os.open(leftover, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # not a directory, or gone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a clone still running
        finally:
            os.close(fd)
        shutil.rmtree(leftover, ignore_errors=True)


# -- merging ---------------------------------------------------------------


def _merge(store: Store, remote: Remote, theirs: CommitId, strategy: Strategy | None) -> Pulled:
    """Join ``theirs`` into the branch as one operation (see the module's doc)."""
    repo = store.repo

    def build(snap: Snapshot) -> tuple[Change | None, Pulled]:
        ours = snap.commit
        base = gitremote.merge_base(repo, ours, theirs) if ours else None
        if ours is not None and base is None:
            raise ValidationError(
                f"{remote.label} has no history in common with this store; "
                "refusing to merge unrelated stores (clone it instead)"
            )
        if base == theirs:
            return None, Pulled(remote.label, "up to date")
        fast_forward = base == ours
        view = store.view(ours)
        plan = _plan(view, base, theirs, strategy)
        problems = {**check_incoming(view, plan.files, plan.modes), **plan.invalid}
        if problems:
            raise ValidationError(pull_refusal(view, theirs, remote.label, problems))
        if plan.conflicts:
            raise MergeConflict(remote.label, plan.conflicts)
        files = {
            path: data
            for path, data in plan.files.items()
            if snap.blob_id(path) != (None if data is None else blob_id(data))
        }
        changed = [block_id_of(p) or agent_id_of(p) or p for p in files]
        blocks = tuple(b for b in map(block_id_of, files) if b is not None)
        pulled = Pulled(
            remote.label,
            "fast-forward" if fast_forward else "merge",
            gitremote.count_commits(repo, theirs, ours),
            blocks,
            plan.merged,
            plan.settled,
        )
        change = Change(
            files,
            "pull",
            remote.label,
            repo.person(),
            blocks=blocks,
            subject=f"pull: merge {remote.label}" + _listed(changed),
            merge=theirs,
            fast_forward=fast_forward,
        )
        return change, pulled

    return repo.transact(build)


def _listed(names: list[str]) -> str:
    if not names:
        return ""
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return ": " + ", ".join(names[:3]) + more


@dataclass(frozen=True)
class _Plan:
    """What a pull writes on top of our branch: ``files`` (None: deleted), the
    Git mode of each file that arrives, the paths merged block by block, the
    conflicts, merge results that are not valid files (path -> problem), and
    what a strategy settled (a line each)."""

    files: dict[str, bytes | None]
    modes: dict[str, int]
    merged: tuple[str, ...]
    conflicts: tuple[Merged, ...]
    invalid: dict[str, str]
    settled: tuple[str, ...]


_UNCHANGED = (0, "")  # no change on our side since the merge base


def _plan(view: View, base: CommitId | None, theirs: CommitId, strategy: Strategy | None) -> _Plan:
    repo, ours = view.snap.repo, view.snap.commit

    def read(entry: FileEntry | None) -> bytes | None:
        return None if entry is None else repo.blob(entry[1])

    arriving = gitremote.changes(repo, base, theirs)
    ours_changed = gitremote.changes(repo, base, ours) if ours and base != ours else {}
    base_snap = repo.snapshot(base) if base else None
    files: dict[str, bytes | None] = {}
    modes: dict[str, int] = {}
    both: dict[str, tuple[FileEntry | None, FileEntry | None]] = {}
    for path, entry in arriving.items():
        mine = ours_changed.get(path, _UNCHANGED)
        if mine == entry:
            continue  # the same change on both sides
        if entry is not None:
            modes[path] = entry[0]
        if mine == _UNCHANGED or (entry is not None and entry[0] != REGULAR_FILE):
            files[path] = read(entry)  # a file that is not plain is refused by the check
        else:
            both[path] = (mine, entry)
    # Blocks changed on both sides merge by replaying operations: read each
    # side's since the histories parted, in one walk per side.
    blocks = [path for path in both if block_id_of(path) is not None]
    limit = view.settings.default_limit
    ours_ops = side_ops(repo, ours, theirs, blocks, limit) if ours else {}
    theirs_ops = side_ops(repo, theirs, ours, blocks, limit)
    merged: list[str] = []
    conflicts: list[Merged] = []
    invalid: dict[str, str] = {}
    settled: list[str] = []
    for path, (mine, entry) in both.items():
        base_sha = base_snap.blob_id(path) if base_snap else None
        result = merge_file(
            path,
            None if base_sha is None else repo.blob(base_sha),
            read(mine),
            read(entry),
            strategy=strategy,
            default_limit=limit,
            ops=(ours_ops[path], theirs_ops[path]) if path in theirs_ops else None,
        )
        merged.append(path)
        settled += result.settled
        if result.clean:
            files[path] = result.data
        elif result.conflicts:
            conflicts.append(result)
        else:
            invalid[path] = result.error or f"{path}: the merged file is not valid"
    return _Plan(files, modes, tuple(merged), tuple(conflicts), invalid, tuple(settled))
