"""Files people change on disk: ``gitmem status``, ``gitmem commit`` and ``gitmem edit``.

A person's file is committed as a 3-way merge: base = the version the edit
started from (the index entry, which operations leave alone while the file
is changed), ours = the file, theirs = the branch now. A clean merge commits
and rewrites the file; a conflict commits nothing and leaves the file as it is.
Files that do not validate are reported and never committed, never "fixed".
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gitmem.block import block_path
from gitmem.errors import ConflictError, GitmemError
from gitmem.gitobjects import blob_id, is_object_id
from gitmem.gitworktree import FileState, file_states
from gitmem.merge import Merged, Strategy, merge_file
from gitmem.store import Store, Write
from gitmem.validate import agent_id_of, block_id_of, check_files
from gitmem.view import View

DIRS = ("blocks", "agents")
NOT_ON_DISK = "not on disk"  # an Edit that did not come from the working tree


def is_store_file(path: str) -> bool:
    """Whether a file git does not know yet is a block or manifest a person made,
    not an editor's temp or backup file (``.x.md.swp``, ``x.md~``, ``4913``, ``.#x.md``)."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith((".", "#")) or name.endswith(("~", "#")):
        return False
    return block_id_of(path) is not None or agent_id_of(path) is not None


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
    if state.conflicted:
        return f"{state.path}: unmerged (a git merge is in progress); resolve it with git first"
    if state.disk is not None and not is_object_id(state.disk):  # a reason, not an id
        return f"{state.path}: {state.disk}; blocks and manifests must be plain files"
    return None


def status(
    store: Store, paths: Iterable[str] | None = None, *, staged: bool = True
) -> list[FileStatus]:
    """Blocks and manifests that differ on disk from the branch, each checked
    (``staged``: see ``commit_changed``)."""
    states = _states(store, paths, staged)
    files = {s.path: _read(store, s) for s in states if not _unreadable(s)}
    problems = check_files(store.view(), files, markers=True)
    return [FileStatus(s.path, _change(s), _unreadable(s) or problems.get(s.path)) for s in states]


def _read(store: Store, state: FileState) -> bytes | None:
    try:
        return None if state.disk is None else (store.root / state.path).read_bytes()
    except FileNotFoundError:
        return None


def _base(state: FileState, bases: dict[str, str | None]) -> str | None:
    """The version a person's file started from: where an operation moved the
    branch past it, the version recorded then; otherwise the branch's own."""
    return bases.get(state.path, state.head)


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
    must not commit those under git's feet)."""
    refused: dict[str, str] = {}

    def read() -> list[Edit]:
        # Called under the store lock: another writer's operation is then not
        # half-done (branch moved, its files not yet written), which would
        # look like a person's change and be committed back over it.
        refused.clear()
        edits = []
        bases = store.repo.bases()
        for state in _states(store, paths, staged):
            problem = _unreadable(state)
            if problem:
                refused[state.path] = problem
                continue
            data = _read(store, state)
            read = None if data is None else blob_id(data)
            edits.append(Edit(state.path, _base(state, bases), data, read))
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
            merged = merge_file(
                e.path,
                _blob(store, e.base),
                e.data,
                _blob(store, theirs),
                strategy=strategy,
                default_limit=view.settings.default_limit,
                labels=labels,
            )
            if merged.clean:
                files[e.path] = merged.data
            elif merged.error:
                refused[e.path] = merged.error
            else:
                conflicts.append(Conflict(merged, theirs))
        refused.update(check_files(view, files, markers=True))
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
