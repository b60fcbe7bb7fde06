"""Plain git in a store: the hooks gitmem installs into ``.git/hooks``, what they
check, and the block-aware merge driver git runs for blocks and manifests.

Installed the way pre-commit installs its hooks: each script is stamped, a
hook that was there before is kept as ``<hook>.legacy`` and run first, running
it again is harmless, and the script calls the Python that installed it;
uninstalling takes out only what is stamped as gitmem's and puts the
``.legacy`` hook back.
Nothing is ever run from the store's own files: they arrive by pull.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitmem.errors import CorruptError, ValidationError
from gitmem.model.merge import Merged, merge_file
from gitmem.model.settings import SETTINGS, Settings, parse_settings
from gitmem.ops.data import data_dir
from gitmem.ops.validate import REGULAR_FILE, check_incoming

if TYPE_CHECKING:  # the merge driver starts once per file: it loads no Git objects
    from gitmem.git.repo import GitRepo
    from gitmem.ops.store import Store

# Each hook and the script in hooks/ it runs: a merge commit is checked like
# any other (git's own sample pre-merge-commit runs pre-commit too).
# reference-transaction runs for every ref update (git >= 2.28); its script
# starts gitmem only for a stash being saved.
HOOKS = {
    "pre-commit": "pre-commit",
    "pre-merge-commit": "pre-commit",
    "reference-transaction": "reference-transaction",
}
STAMP = "# gitmem-hook"
DRIVER = "gitmem"
# ``python -m gitmem`` would import a gitmem/ from the current directory, which
# for hooks and merge drivers is the store: take it off the path first. (Lines,
# not ';': git's config reads an unquoted ';' as the start of a comment.)
MAIN = (
    "import sys\n"
    "sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
    "from gitmem.cli import main\n"
    "main(prog_name='gitmem')"
)


def gitmem_command() -> str:
    """The shell command that runs this gitmem, wherever git runs it from."""
    return f'{shlex.quote(sys.executable)} -c "{MAIN}"'


def install(repo: GitRepo) -> list[str]:
    """Install the hooks and the merge driver; return what was done, for people to read."""
    hooks = repo.gitdir / "hooks"
    hooks.mkdir(exist_ok=True)
    said = []
    for name, script in HOOKS.items():
        target = hooks / name
        if (target.exists() or target.is_symlink()) and not _is_ours(target):
            legacy = hooks / f"{name}.legacy"
            if legacy.exists() or legacy.is_symlink():
                raise ValidationError(
                    f"{target} is not gitmem's and {legacy.name} exists too; "
                    "move one of them away and install again"
                )
            os.replace(target, legacy)
            said.append(f"kept the existing {name} hook as {legacy.name}; it runs first")
        text = (data_dir("hooks") / script).read_text(encoding="utf-8")
        text = text.replace("@INSTALL_PYTHON@", shlex.quote(sys.executable))
        text = text.replace("@MAIN@", MAIN)
        tmp = hooks / f".{name}.gitmem-tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o755)
        os.replace(tmp, target)
    said.append(f"installed the {', '.join(HOOKS)} hooks in {hooks}")
    repo.set_config(("merge", DRIVER), "name", "gitmem block-aware merge of blocks and manifests")
    repo.set_config(("merge", DRIVER), "driver", f"{gitmem_command()} merge-driver %O %A %B %P")
    said.append(f"configured the merge driver merge.{DRIVER}.driver")
    hooks_path = repo.config(("core",), "hooksPath")
    if hooks_path:
        said.append(
            f"warning: core.hooksPath is set to {hooks_path}, so git does not run the hooks "
            f"in {hooks}; unset it for this store: git config core.hooksPath {hooks}"
        )
    return said


def uninstall(repo: GitRepo) -> list[str]:
    """Remove gitmem's hooks and merge driver, putting back the hooks they kept as
    ``<hook>.legacy``; return what was done. A hook that is not gitmem's stays."""
    hooks = repo.gitdir / "hooks"
    removed, said = [], []
    for name in HOOKS:
        target = hooks / name
        if not _is_ours(target):
            continue
        target.unlink()
        removed.append(name)
        legacy = hooks / f"{name}.legacy"
        if legacy.exists() or legacy.is_symlink():
            os.replace(legacy, target)
            said.append(f"put back the {name} hook that was kept as {legacy.name}")
    if removed:
        said.insert(0, f"removed the {', '.join(removed)} hooks from {hooks}")
    if repo.remove_config(("merge", DRIVER)):
        said.append(f"removed the merge driver merge.{DRIVER}")
    return said or ["gitmem's hooks and merge driver are not installed here; nothing to do"]


def _is_ours(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return any(f.readline().startswith(STAMP) for _ in range(5))
    except (FileNotFoundError, IsADirectoryError):
        return False


def run(
    store: Store,
    name: str,
    args: Sequence[str],
    *,
    index: Path | None = None,
    updates: Iterable[str] = (),
) -> list[str]:
    """What hook ``name`` refuses (``Hooks.run``): pre-commit and pre-merge-commit
    check ``index`` (default: the store's), reference-transaction the ``updates``."""
    if name not in HOOKS:
        raise ValidationError(f"gitmem has no {name!r} hook (it has {', '.join(HOOKS)})")
    if name != "reference-transaction":
        return check_index(store, index or store.repo.gitdir / "index")
    if not args or args[0] != "prepared":
        return []  # checked once, in the prepared state: a stash must not hold an older copy
    problems = []
    for line in updates:  # "<old> <new> <ref>"
        _, new, ref = [*line.rstrip("\n").split(" ", 2), "", ""][:3]
        if ref == "refs/stash" and new.strip("0"):
            problems += check_stash(store, new)
    return problems


def check_index(store: Store, index_file: Path) -> list[str]:
    """Why a commit of the index at ``index_file`` must be refused (empty: it may go on)."""
    from gitmem.git.worktree import staged_changes

    if store.repo.left_behind():
        # Committed now, the index would undo that operation's change.
        return [
            "an operation moved the branch but could not finish the index and files "
            "(a full disk?); run gitmem status, which finishes them, then commit again"
        ]

    changes = staged_changes(store.repo, index_file)
    modes = {p: e.mode for p, e in changes.items() if e is not None}
    files = {
        p: None if e is None or e.mode != REGULAR_FILE else store.repo.blob(e.sha)
        for p, e in changes.items()
    }
    view = store.view()
    problems = check_incoming(view, files, modes)
    bases = store.repo.bases()
    for path, data in files.items():
        if data is not None and path not in problems:
            problem = older_than_branch(store, bases, path, data) or _stale(
                store, view.snap.blob_id(path), path
            )
            if problem:
                problems[path] = problem
    return [problems[p] for p in sorted(problems)]


def check_stash(store: Store, stash: str) -> list[str]:
    """Why saving the stash commit ``stash`` must be refused: a copy it holds is
    older than the branch, and popping it later would undo the agents' changes
    as a diff that no record ties to its base any more."""
    from dulwich.objects import Commit, ObjectID

    repo = store.repo
    commit = repo.object(ObjectID(stash.encode()), Commit)
    try:
        head = repo.head()
    except CorruptError:  # HEAD names no branch: the store's branch is not being stashed
        return []
    if commit.parents[:1] != [head]:
        return []  # not a stash being saved now (it is made on HEAD): one dropped
    saved = repo.snapshot(commit.id)
    bases = repo.bases()
    problems = []
    for path in sorted(bases):
        sha = saved.blob_id(path)
        if sha is not None:
            problem = older_than_branch(store, bases, path, repo.blob(sha))
            if problem:
                problems.append(problem)
    return problems


def older_than_branch(
    store: Store, bases: dict[str, str | None], path: str, data: bytes
) -> str | None:
    """Why committing ``data`` at ``path`` would undo agents' changes, or None.

    A copy is older than the branch when it descends from a version of the
    block that the branch has moved past: an operation changed the block
    while the person's copy was changed on disk, staged or being merged, so
    gitmem recorded the version the copy started from (``GitRepo.bases``).
    Committing it as it is would take the branch's changes since then back
    out, unless the copy holds them already. A ``git revert`` of an agent's
    commit is computed by git from the branch itself, so it is never older.
    """
    if path not in bases:
        return None
    repo, base = store.repo, bases[path]
    snap = repo.snapshot()
    head = snap.blob_id(path)
    if head == base:
        return None
    old = None if base is None else repo.blob(base)
    theirs = None if head is None else repo.blob(head)
    merged = merge_file(path, old, data, theirs)
    if merged.clean and merged.data == merge_file(path, old, data, data).data:
        return None  # the copy has the branch's changes already
    commits = _changed_since(repo, snap.commit, path, base)
    return (
        f"{path}: your copy started from an older version than the branch: "
        f"{commits} changed it since, and committing your copy would undo that; "
        f"merge them with: gitmem commit {path}"
    )


def _changed_since(repo: GitRepo, head: bytes | None, path: str, base: str | None) -> str:
    """The commits on the branch's first-parent line that changed ``path`` since
    it was ``base``, newest first, as a person reads them."""
    from dulwich.objects import Commit, ObjectID

    from gitmem.git.commit import LogEntry

    found = []
    commit = head
    for _ in range(_WALK):
        if commit is None:
            break
        obj = repo.object(ObjectID(commit), Commit)
        parent = obj.parents[0] if obj.parents else None
        before = repo.snapshot(parent).blob_id(path) if parent else None
        if before != repo.snapshot(obj.id).blob_id(path):
            entry = LogEntry.from_commit(obj)
            who = entry.agent or entry.author.split(" <")[0]
            found.append(f"{entry.commit[:7]} ({entry.op or 'commit'} by {who})")
        if before == base:
            break
        commit = parent
    shown = ", ".join(found[:3])
    return shown + (f" and {len(found) - 3} more" if len(found) > 3 else "")


_WALK = 200  # commits looked through to name the ones that changed a block


def _stale(store: Store, head: str | None, path: str) -> str | None:
    """A staged copy older than the branch: the file on disk is the branch's, yet
    the index holds something else. That is what git's unlocked read of the index
    leaves when an agent commits between ``git add`` and ``git commit``;
    committing it would take the agent's change back out."""
    from gitmem.git.checkout import disk_blob_id

    if head is None or disk_blob_id(store.root, path, store.repo.max_file) != head:
        return None
    return (
        f"{path}: the staged copy is older than the branch (an agent changed this block "
        f"after it was staged); stage it again: git add {path}"
    )


def merge_files(base: Path, ours: Path, theirs: Path, path: str, root: Path) -> Merged:
    """What git's merge driver does: merge into ``ours`` (git's %A) in place.

    Clean: the merged file. Otherwise: the conflicts between markers, or the
    merged text that is not valid, for the person to fix.
    """
    merged = merge_file(
        path,
        base.read_bytes(),
        ours.read_bytes(),
        theirs.read_bytes(),
        default_limit=_settings(root).default_limit,
    )
    result = merged.data if merged.clean else merged.marked
    if result is not None:
        ours.write_bytes(result)
    return merged


def _settings(root: Path) -> Settings:
    # Read from the file, not the repository: a merge driver starts once per
    # file, so it stays clear of loading Git objects.
    try:
        return parse_settings((root / SETTINGS).read_bytes())
    except (OSError, ValidationError):
        return Settings()
