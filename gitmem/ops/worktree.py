"""Files people change on disk: ``gitmem status``, ``gitmem commit`` and ``gitmem edit``.

A person's file is committed as a 3-way merge: base = the version the edit
started from (see ``derived_from``), ours = the file, theirs = the branch now.
A clean merge commits and rewrites the file; a conflict commits nothing and
leaves the file as it is.
Files that do not validate are reported and never committed, never "fixed".
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gitmem.errors import ConflictError, CorruptError, GitmemError
from gitmem.git import safefs
from gitmem.git.editors import Version, is_editor_file
from gitmem.git.objects import blob_id, is_object_id
from gitmem.git.state import read_state
from gitmem.git.worktree import FileState, file_states
from gitmem.model.ids import DIRS, agent_id_of, block_id_of, block_path
from gitmem.model.merge import Merged, Strategy, merge_file
from gitmem.ops.oplog import edit_ops
from gitmem.ops.store import Store, Write
from gitmem.ops.validate import check_files
from gitmem.ops.view import View

NOT_ON_DISK = "not on disk"  # an Edit that did not come from the working tree


def is_store_file(path: str) -> bool:
    """Whether a file git does not know yet is a block or manifest a person made,
    not an editor's temp or backup file (``.x.md.swp``, ``x.md~``, ``4913``, ``.#x.md``)."""
    if is_editor_file(path.rsplit("/", 1)[-1]):
        return False
    return block_id_of(path) is not None or agent_id_of(path) is not None


class GitAtWork(ConflictError):
    """Git changed index and files while they were read: what it wrote is no
    person's save, and is not committed."""


@dataclass(frozen=True)
class FileStatus:
    """A file changed on disk: ``change`` is modified, new or deleted; ``problem``
    is None when the file may be committed."""

    path: str
    change: str
    problem: str | None = None


@dataclass(frozen=True)
class Edit:
    """A person's version of one file (None: deleted) and the blob id it started from."""

    path: str
    base: str | None
    data: bytes | None
    read: str | None = NOT_ON_DISK  # the file's blob id as read from the working tree
    replay: bool = True  # the branch once had ``base``: merge by replaying operations since


@dataclass(frozen=True)
class Conflict:
    """A file that could not be merged with the branch's version ``theirs``."""

    merged: Merged
    theirs: str | None


@dataclass(frozen=True)
class Outcome:
    """What a commit of people's files did: committed paths, refused ones with
    their problem, and conflicts. Nothing refused or conflicting was changed."""

    committed: tuple[str, ...] = ()
    refused: dict[str, str] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()


def _states(store: Store, paths: Iterable[str] | None, staged: bool = True) -> list[FileState]:
    states = file_states(store.repo, DIRS, paths, untracked=is_store_file)
    return [s for s in states if s.changed and (staged or s.disk != s.staged or s.conflicted)]


def _change(state: FileState) -> str:
    return "deleted" if state.disk is None else "new" if state.head is None else "modified"


def _unreadable(state: FileState) -> str | None:
    if not safefs.is_safe(state.path):
        return (
            f"{safefs.shown(state.path)}: not a block or manifest: its name has bytes that "
            "are not UTF-8, control characters or a backslash; rename it (git mv)"
        )
    if state.conflicted:
        return f"{state.path}: unmerged (a git merge is in progress); resolve it with git first"
    if state.disk is not None and not is_object_id(state.disk):  # a reason, not an id
        return f"{state.path}: {state.disk}; blocks and manifests must be plain files"
    return None


def status(
    store: Store, paths: Iterable[str] | None = None, *, staged: bool = True
) -> list[FileStatus]:
    """Blocks and manifests that differ on disk from the branch, each checked
    (``staged``: see ``commit_changed``). None while HEAD is elsewhere: the
    files on disk are then another commit's, the person's."""
    if not store.repo.checks_out():
        return []
    if store.repo.left_behind():
        store.repo.finish()  # else the index would show an operation's change undone
    states = _states(store, paths, staged)
    files = {s.path: _read(store, s) for s in states if not _unreadable(s)}
    problems = check_files(store.view(), files)
    return [
        FileStatus(safefs.shown(s.path), _change(s), _unreadable(s) or problems.get(s.path))
        for s in states
    ]


def _read(store: Store, state: FileState) -> bytes | None:
    try:
        return None if state.disk is None else (store.root / state.path).read_bytes()
    except FileNotFoundError:
        return None


def _base(state: FileState, bases: dict[str, str | None]) -> str | None:
    """The version a person's file started from: where an operation moved the
    branch past it, the version recorded then; otherwise the branch's own."""
    return bases.get(state.path, state.head)


def derived_from(
    store: Store, state: FileState, data: bytes, bases: dict[str, str | None]
) -> Version | None:
    """The version a person's saved file ``data`` was derived from (None: the
    file is new to the branch): the one it differs from in the fewest lines, among

    - the version ``_base`` names (what the file started from as far as the
      index and the recorded bases tell), then the branch's,
    - the versions gitmem replaced on disk or left to an editor's buffer,
      newest first: a buffer loaded before gitmem rewrote the file (editors
      without a lock, autosave) and a save that landed while the one before
      it was committed are derived from one of these, not from the branch.

    Each line one of the two has more often than the other counts 1 (lines
    as a multiset: linear in the size, where a diff of many equal lines takes
    seconds); a tie goes to the earlier candidate. A buffer that never saw an
    agent's line is thus merged from a version without it, and the line stays.
    Content alone cannot tell a stale buffer saved again from a person
    deleting exactly the lines added since a replaced version: that save is
    taken as the stale buffer, and the lines stay (delete them with ``gitmem
    edit`` or a memory tool, whose base is known).
    """
    first = _base(state, bases)
    if first is None:
        return None
    candidates = [Version(sha, saved=False) for sha in (first, state.head) if sha is not None]
    candidates += store.repo.replaced(state.path)
    lines = Counter(data.splitlines())
    best, fewest = candidates[0], None
    unique: dict[str, Version] = {}
    for candidate in candidates:
        unique.setdefault(candidate.sha, candidate)
    for version in unique.values():
        try:
            theirs = Counter(store.repo.blob(version.sha).splitlines())
        except CorruptError:
            continue  # pruned by git gc: no buffer holds it any more either
        differ = (lines - theirs).total() + (theirs - lines).total()
        if fewest is None or differ < fewest:
            best, fewest = version, differ
    return best


def commit_changed(
    store: Store,
    paths: Iterable[str] | None = None,
    *,
    message: str | None = None,
    strategy: Strategy | None = None,
    staged: bool = True,
) -> Outcome:
    """Commit what people changed on disk under blocks/ and agents/ (or just
    ``paths``) as one commit by the person, merging with the branch.

    ``staged=False`` leaves alone files whose change is in the index as it is
    on disk: staged with ``git add``, or written by git itself in the middle
    of a merge, checkout or reset whose commit is still to come (the watcher
    must not commit those under git's feet).

    Refused while git is not at rest on the branch (HEAD detached, a rebase or
    merge waiting for the person, ...): the files are the person's then. But a
    person resolving a merge, cherry-pick or revert on the branch may commit the
    files they name: that merges the agents' writes made meanwhile into their
    resolution, as the pre-commit hook's refusal asks."""
    state = read_state(store.repo)
    resolving = (
        paths is not None
        and state.head_branch == state.branch
        and state.operation in ("merge", "cherry-pick", "revert")
    )
    if not state.at_rest and not resolving:
        raise GitmemError(state.refusal("cannot commit files from disk"))
    refused: dict[str, str] = {}

    def read() -> list[Edit]:
        # Called under the store lock: another writer's operation is then not
        # half-done (branch moved, its files not yet written), which would
        # look like a person's change and be committed back over it. Git's
        # own are told by its index.lock, and HEAD moving (a checkout writes
        # files and index first, then HEAD).
        refused.clear()
        edits = []
        stamp = store.repo.index_stamp()
        bases = store.repo.bases()
        for state in _states(store, paths, staged):
            problem = _unreadable(state)
            if problem:
                refused[safefs.shown(state.path)] = problem
                continue
            data = _read(store, state)
            if data is None:
                edits.append(Edit(state.path, _base(state, bases), None, None))
                continue
            base = derived_from(store, state, data, bases)
            # A person's save that gitmem merged was never the branch's
            # version: there are no operations since it to replay.
            replay = base is None or not base.saved
            edits.append(Edit(state.path, base and base.sha, data, blob_id(data), replay))
        at_work = stamp is None or store.repo.index_stamp() != stamp
        if edits and (at_work or not store.repo.checks_out()):
            raise GitAtWork("git is changing the files (checkout, merge, reset...); run again")
        return edits

    outcome = commit_edits(store, read, op="commit", subject=message, strategy=strategy)
    return Outcome(outcome.committed, {**refused, **outcome.refused}, outcome.conflicts)


def commit_edits(
    store: Store,
    edits: list[Edit] | Callable[[], list[Edit]],
    *,
    op: str,
    subject: str | None = None,
    strategy: Strategy | None = None,
    labels: tuple[str, str] = ("ours", "theirs"),
) -> Outcome:
    """Merge each edit with the branch and commit those that are clean and valid,
    as one commit by the person. ``edits`` may be a function, read under the lock."""
    if not edits:
        return Outcome()

    def build(view: View) -> tuple[Write | None, Outcome]:
        found = edits() if callable(edits) else edits
        if not found:
            return None, Outcome()
        files: dict[str, bytes | None] = {}
        refused: dict[str, str] = {}
        conflicts = []
        for e in found:
            theirs = view.snap.blob_id(e.path)
            if theirs == e.base:
                files[e.path] = e.data
                continue
            limit = view.settings.default_limit
            ops = None
            if e.base is not None and e.data is not None and e.replay:
                # The agents' operations since the person's copy, replayed onto it.
                who = store.repo.person().name
                ops = edit_ops(store.repo, view.snap.commit, e.path, e.base, e.data, limit, who)
            merged = merge_file(
                e.path,
                _blob(store, e.base),
                e.data,
                _blob(store, theirs),
                strategy=strategy,
                default_limit=limit,
                labels=labels,
                ops=ops,
            )
            if merged.clean:
                files[e.path] = merged.data
                if e.data is not None and e.read != NOT_ON_DISK and merged.data != e.data:
                    # The file keeps deriving from this version (see derived_from)
                    store.repo.write_blob(e.data)
            elif merged.error:
                refused[e.path] = merged.error
            else:
                conflicts.append(Conflict(merged, theirs))
        refused.update(check_files(view, files))
        accepted = {p: d for p, d in files.items() if p not in refused}
        changed = {
            p: d
            for p, d in accepted.items()
            if view.snap.blob_id(p) != (None if d is None else blob_id(d))
        }
        claims = {e.path: e.read for e in found if e.path in accepted and e.read != NOT_ON_DISK}
        ids = [block_id_of(p) or agent_id_of(p) or p for p in changed]
        blocks = tuple(b for b in map(block_id_of, changed) if b is not None)
        target = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        write = Write(changed, target, blocks, subject=subject, from_disk=claims)
        return write, Outcome(tuple(changed), refused, tuple(conflicts))

    return store.transact(build, op=op)


def _blob(store: Store, sha: str | None) -> bytes | None:
    return None if sha is None else store.repo.blob(sha)


# -- gitmem edit ---------------------------------------------------------------

_HEADER = "# gitmem: "


def edit(store: Store, block_id: str, run_editor: Callable[[Path], int]) -> Outcome:
    """Let a person edit a block in their editor (``run_editor(file)`` returns its
    exit status), and commit the save merged with what changed meanwhile.

    On a conflict or an invalid save the file is opened again with the reason
    at the top; giving up keeps the edited copy and the error says where.
    """
    path = block_path(block_id)
    view = store.view()
    view.block(block_id)
    base = view.snap.blob_id(path)
    assert base is not None  # the block exists
    shown = store.repo.blob(base)
    edits_dir = store.repo.gitdir / "gitmem" / "edits"
    edits_dir.mkdir(parents=True, exist_ok=True)
    prefix = block_id.replace("/", "-") + "-"
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".md", dir=edits_dir)
    copy = Path(name)
    os.close(fd)
    copy.write_bytes(shown)
    first = True
    while True:
        failed = run_editor(copy) != 0
        ours = _strip_header(copy.read_bytes())
        unchanged = ours == _strip_header(shown)
        if failed or not ours.strip() or (unchanged and not first):
            raise _gave_up(copy, shown)
        if unchanged:
            copy.unlink()
            return Outcome()
        first = False
        outcome = commit_edits(
            store, [Edit(path, base, ours)], op="edit", labels=("yours", "theirs")
        )
        if outcome.refused:
            note = f"your edit was not saved: {outcome.refused[path]}\nfix it, then save and quit."
            shown = _with_header(note, ours)
        elif outcome.conflicts:
            conflict = outcome.conflicts[0]
            base = conflict.theirs
            note = (
                f"{path} changed while you edited it, and your edit conflicts with that:\n"
                "resolve each <<<<<<< yours ... >>>>>>> theirs section, then save and quit."
            )
            shown = _with_header(note, conflict.merged.marked or ours)
        else:
            copy.unlink()
            return outcome
        copy.write_bytes(shown)


def _gave_up(copy: Path, shown: bytes) -> GitmemError:
    message = f"edit abandoned; your version is kept in {copy}"
    if b"\n<<<<<<< " in b"\n" + shown:
        return ConflictError(message)
    return GitmemError(message)


def _with_header(note: str, data: bytes) -> bytes:
    lines = [f"{_HEADER}{line}\n" for line in note.split("\n")]
    lines.append(f"{_HEADER}(quit without saving to give up; your edit is kept)\n")
    header = "".join(lines).encode("utf-8")
    if data.startswith(b"---\n"):
        return b"---\n" + header + data[4:]
    return header + data


def _strip_header(data: bytes) -> bytes:
    """The file without the lines gitmem put at the top of its front matter."""
    start = 4 if data.startswith(b"---\n") else 0
    end = start
    while data.startswith(_HEADER.encode(), end):
        end = data.find(b"\n", end) + 1 or len(data)
    return data[:start] + data[end:]
