"""``gitmem check``: everything wrong with a store, found without changing anything.

``check_files`` applies the rules of ``validate`` (the ones every commit,
hook, merge and pull applies) to a complete set of store files, so that it
reports exactly what those refuse, with the same lines. ``check_store`` runs
it on the branch head and on the working tree, and adds what can be wrong in
``.git`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from gitmem.errors import CorruptError, ValidationError
from gitmem.git import fsck as gitcheck
from gitmem.git import safefs
from gitmem.git.editors import is_editor_file
from gitmem.git.repo import GitRepo
from gitmem.git.snapshot import Snapshot
from gitmem.model import block as blockfmt
from gitmem.model.block import Block
from gitmem.model.ids import DIRS
from gitmem.model.manifest import Agent
from gitmem.model.rules import GITATTRIBUTES, attachment_problems, classify, parse_file
from gitmem.model.settings import SETTINGS, Settings, parse_settings
from gitmem.ops.validate import EXECUTABLE, mode_refusal
from gitmem.ops.view import pin_branch

_BAD_NAME = "its name is not a store path (control characters or bytes that are not UTF-8)"
_WHERE: dict[tuple[str, ...], str] = {
    ("HEAD",): " (in the last commit; not on disk)",
    ("disk",): " (on disk; not committed)",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong, where a person finds it: ``path:line: message``."""

    path: str
    line: int
    message: str
    where: tuple[str, ...] = ()  # "HEAD" (the branch head), "disk" (working tree), "git"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}{_WHERE.get(self.where, '')}"


@dataclass(frozen=True)
class StoreFile:
    """One path of a store, from a commit or from disk: its bytes, or why they were not read."""

    path: str
    data: bytes | None = None
    refused: str | None = None


@dataclass
class Checked:
    """What ``check_files`` found: every problem, and the blocks and agents that parse."""

    problems: list[Problem] = field(default_factory=list)
    blocks: dict[str, Block] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)


Parses = dict[tuple[str, bytes, int], Block | Agent | None]  # by (path, data, default limit)


def check_files(files: Iterable[StoreFile], cache: Parses | None = None) -> Checked:
    """Validate a complete set of store files by the rules every write follows
    (``validate``): each file on its own, then across files (manifests name
    blocks that exist; labels are unique per agent).

    ``cache`` (parses by path and content) may be shared between calls.
    """
    files = list(files)
    cache = {} if cache is None else cache
    found = Checked()
    settings = _settings(files, found)
    bad: dict[str, str] = {}  # block id -> its file, which is not valid
    manifests: dict[str, bytes] = {}
    for f in files:
        role, name = classify(f.path)
        if role == "settings":
            continue
        if f.refused is not None or f.data is None:
            found.problems.append(Problem(f.path, 1, f.refused or "cannot be read"))
            if role == "block":
                bad[name] = f.path
            continue
        key = (f.path, f.data, settings.default_limit)
        try:
            if key not in cache:
                cache[key] = parse_file(f.path, f.data, settings.default_limit)
        except ValidationError as e:
            found.problems.append(_problem(f.path, e))
            if role == "block":
                bad[name] = f.path
            continue
        parsed = cache[key]
        if isinstance(parsed, Block):
            found.blocks[name] = parsed
        elif isinstance(parsed, Agent):
            found.agents[name] = parsed
            manifests[name] = f.data

    def lookup(block_id: str) -> Block | str | None:
        return found.blocks.get(block_id) or bad.get(block_id)

    for agent in found.agents.values():
        for line, message, _ in attachment_problems(agent, manifests[agent.id], lookup):
            found.problems.append(Problem(agent.path, line, message))
    return found


def _settings(files: list[StoreFile], found: Checked) -> Settings:
    f = next((f for f in files if f.path == SETTINGS), None)
    if f is None:
        found.problems.append(Problem(SETTINGS, 1, "the store's settings file is missing"))
    elif f.data is None:
        found.problems.append(Problem(SETTINGS, 1, f.refused or "cannot be read"))
    else:
        try:
            return parse_settings(f.data)
        except ValidationError as e:
            found.problems.append(_problem(SETTINGS, e))
    return Settings()


def _problem(path: str, error: ValidationError) -> Problem:
    """A Problem from an error that reads ``path:line: message`` (or just ``message``)."""
    text = str(error)
    line, sep, message = text.removeprefix(f"{path}:").partition(": ")
    if text.startswith(f"{path}:") and sep and line.isdigit():
        return Problem(path, int(line), message)
    return Problem(path, 1, text)


# -- where the files come from -------------------------------------------------


def head_files(snap: Snapshot) -> Iterator[StoreFile]:
    """The store's files at a commit, and whatever else its top holds; links,
    submodules and executables there are reported, not read."""
    tops = sorted(e.name.decode(errors="surrogateescape") for e in snap.tree)
    for top in tops:
        for path, mode, sha in snap.entries(top):
            if not safefs.is_safe(path):
                yield StoreFile(safefs.shown(path), refused=_BAD_NAME)
                continue
            reason = mode_refusal(mode)
            if reason:
                yield StoreFile(path, refused=reason)
                continue
            try:
                yield StoreFile(path, snap.repo.blob(sha))
            except CorruptError:
                yield StoreFile(
                    path, refused="cannot be read: its Git object is missing or damaged"
                )


def disk_files(root: Path, modes: bool = True) -> Iterator[StoreFile]:
    """The store's files in the working tree, never following a link; ``modes``:
    git tracks the executable bit (``core.fileMode``), so a file with it is refused.

    Editors' temporary and backup files (``.x.md.swp``, ``x.md~``, ``#x.md#``,
    vim's ``4913`` probe, anything hidden) are not store files and are skipped.
    """
    for top in (SETTINGS, GITATTRIBUTES, *DIRS):
        for path, mode in safefs.walk(root, top):
            parts = path.split("/")
            if any(is_editor_file(part) for part in parts[1:]):
                continue
            if not safefs.is_safe(path):
                yield StoreFile(safefs.shown(path), refused=_BAD_NAME)
                continue
            try:
                data = safefs.read(root, path, blockfmt.MAX_FILE_BYTES)
            except safefs.Refused as e:
                yield StoreFile(path, refused=e.reason)
                continue
            if data is not None and modes and mode & 0o111:
                # What `git add` would stage: a mode the hook and pulls refuse.
                yield StoreFile(path, refused=mode_refusal(EXECUTABLE))
            elif data is not None:
                yield StoreFile(path, data)


# -- the whole store -----------------------------------------------------------


@dataclass(frozen=True)
class CheckReport:
    """Everything ``gitmem check`` found, and how much it looked at."""

    problems: list[Problem]
    blocks: int
    agents: int
    objects: int


def check_store(root: Path) -> CheckReport:
    """Check the store at ``root``: its Git objects and lock files, and its files at
    the branch head and on disk (a problem in both is reported once)."""
    problems = [Problem(p.path, 1, p.message, ("git",)) for p in gitcheck.stale_locks(root)]
    cache: Parses = {}
    objects = 0
    head = Checked()
    repo = GitRepo(root, max_file=blockfmt.MAX_FILE_BYTES)
    try:
        try:
            pin_branch(repo)
            ref = repo.branch_ref()
            commit = repo.head()
        except CorruptError as e:
            # What is wrong with HEAD or the branch: the message starts with the file.
            path, _, message = str(e).partition(" ")
            problems.append(Problem(path, 1, message, ("git",)))
            commit = None
        else:
            if commit is None:
                problems.append(Problem(f".git/{ref.decode()}", 1, "the branch has no commit"))
        if commit is not None:
            objects, damaged = gitcheck.check_objects(root, ref.decode(), commit)
            damaged += gitcheck.missing_ref_targets(root, ref.decode())
            problems += [Problem(p.path, 1, p.message, ("git",)) for p in damaged]
            with suppress(CorruptError):  # check_objects has said what is damaged
                head = check_files(head_files(repo.snapshot(commit)), cache)
        modes = (repo.config(("core",), "fileMode") or "true").lower() != "false"
        disk = check_files(disk_files(root, modes), cache)
    finally:
        repo.close()
    where: dict[tuple[str, int, str], tuple[str, ...]] = {}
    for source, checked in (("HEAD", head), ("disk", disk)):
        for p in checked.problems:
            key = (p.path, p.line, p.message)
            where[key] = (*where.get(key, ()), source)
    problems += [Problem(*key, found) for key, found in where.items()]
    problems.sort(key=lambda p: (p.path, p.line))
    return CheckReport(problems, len(head.blocks), len(head.agents), objects)
