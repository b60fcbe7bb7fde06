"""Walking the commits between two heads of the branch, for the watcher: which
commits came in, oldest first, and which files each one changed."""

from __future__ import annotations

import stat

from dulwich.graph import find_merge_base
from dulwich.objects import Commit, ObjectID

from gitmem.git.commit import CommitId, LogEntry
from gitmem.git.repo import GitRepo
from gitmem.git.snapshot import FileEntry, diff

FileChange = tuple[str | None, str | None]  # blob ids before and after (None: no file)


def entry(repo: GitRepo, commit: CommitId) -> LogEntry | None:
    """The commit as history shows it; None if the repository does not have it."""
    try:
        obj = repo.git.object_store[commit]
    except KeyError:
        return None
    return LogEntry.from_commit(obj) if isinstance(obj, Commit) else None


def first_parents(repo: GitRepo, old: CommitId, new: CommitId) -> list[LogEntry] | None:
    """The commits after ``old`` up to ``new`` along first parents, oldest first;
    None if ``old`` is not on that chain (a merge brought it in, or history was
    rewritten). The first parent is the branch's own line, as ``git log
    --first-parent`` shows it: a merge counts as one commit."""
    chain = []
    sha: CommitId | None = new
    while sha is not None and sha != old:
        found = entry(repo, sha)
        if found is None:
            return None
        chain.append(found)
        sha = ObjectID(found.parents[0].encode()) if found.parents else None
    if sha is None:
        return None
    chain.reverse()
    return chain


def is_ancestor(repo: GitRepo, old: CommitId, new: CommitId) -> bool:
    """Whether ``old`` is ``new`` or in its history (``git merge-base --is-ancestor``);
    False if the repository does not have it (history was rewritten and collected).

    Not dulwich's can_fast_forward: it stops at commits older than ``old``, so
    one made on a machine whose clock was behind hides the way back to it.
    """
    if old == new:
        return True
    try:
        return find_merge_base(repo.git, [new, old]) == [old]
    except KeyError:
        return False


def changed_files(
    repo: GitRepo, old: CommitId, new: CommitId, dirs: tuple[str, ...]
) -> dict[str, FileChange]:
    """Every file under ``dirs`` that differs between two commits, with its blob
    ids; only the trees that differ are read."""
    inside = tuple(f"{top}/" for top in dirs)
    return {
        path: (_blob_id(a), _blob_id(b))
        for path, a, b in diff(repo.snapshot(old), repo.snapshot(new))
        if path.startswith(inside)
    }


def _blob_id(entry: FileEntry | None) -> str | None:
    """The blob id of a regular file (a link or submodule is no file)."""
    return entry[1] if entry is not None and stat.S_ISREG(entry[0]) else None
