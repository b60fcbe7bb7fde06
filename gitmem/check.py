"""``gitmem check``: everything wrong with a store, found without changing anything.

``check_files`` holds the rules for a complete set of store files — blocks,
manifests, settings, stray names, links — so that committing files from disk
and pulling can refuse exactly what ``gitmem check`` reports. ``check_store``
runs it on the branch head and on the working tree, and adds what can be
wrong in ``.git`` itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmem import block as blockfmt
from gitmem import gitcheck, safefs
from gitmem import manifest as manifestfmt
from gitmem.block import Block
from gitmem.errors import CorruptError, ValidationError
from gitmem.gitsnapshot import Snapshot
from gitmem.ids import check_agent_id, check_block_id
from gitmem.manifest import Agent
from gitmem.repo import GitRepo
from gitmem.view import SETTINGS, Settings, parse_settings

GITATTRIBUTES = ".gitattributes"
_GITLINK = 0o160000
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


Parses = dict[tuple[Any, ...], Any]


def check_files(files: Iterable[StoreFile], cache: Parses | None = None) -> Checked:
    """Validate a complete set of store files: each file on its own, then across
    files (manifests name blocks that exist; labels are unique per agent).

    ``cache`` (parses by path and content) may be shared between calls.
    """
    files = list(files)
    cache = {} if cache is None else cache
    found = Checked()
    settings = _settings(files, found)
    present: set[str] = set()  # block ids with a file, valid or not
    manifests: dict[str, bytes] = {}
    for f in files:
        role, name = _role(f.path)
        if role == "block":
            present.add(name)
        if role == "settings":
            continue
        if f.refused is not None or f.data is None:
            found.problems.append(Problem(f.path, 1, f.refused or "cannot be read"))
        elif role == "other":
            continue
        elif role == "stray":
            found.problems.append(Problem(f.path, 1, name))
        else:
            key = (role, f.path, f.data, settings.default_limit)
            try:
                if key not in cache:
                    cache[key] = _parse(role, name, f, settings)
            except ValidationError as e:
                found.problems.append(_problem(f.path, e))
                continue
            if role == "block":
                found.blocks[name] = cache[key]
            else:
                found.agents[name] = cache[key]
                manifests[name] = f.data
    for agent in found.agents.values():
        _check_attachments(agent, manifests[agent.id], present, found)
    return found


def _role(path: str) -> tuple[str, str]:
    """What ``path`` is in a store, and the block or agent id (or what is wrong) with it."""
    top, _, rest = path.partition("/")
    if path == SETTINGS:
        return "settings", ""
    if top not in ("blocks", "agents"):
        return "other", ""
    if not rest:
        return "stray", f"should be a directory of {'blocks' if top == 'blocks' else 'manifests'}"
    if top == "blocks":
        if rest.endswith(".md"):
            return "block", rest[: -len(".md")]
        return "stray", "not a block: blocks/ holds only <block-id>.md files"
    if rest.endswith(".yaml") and "/" not in rest:
        return "agent", rest[: -len(".yaml")]
    return "stray", "not an agent manifest: agents/ holds only <agent-id>.yaml files"


def _parse(role: str, name: str, f: StoreFile, settings: Settings) -> Block | Agent:
    assert f.data is not None
    if role == "block":
        check_block_id(name)
        return blockfmt.parse(
            f.data, block_id=name, path=f.path, default_limit=settings.default_limit
        )
    check_agent_id(name)
    return manifestfmt.parse(f.data, agent_id=name, path=f.path)


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


def _check_attachments(agent: Agent, data: bytes, present: set[str], found: Checked) -> None:
    labels: dict[str, str] = {}
    for block_id in agent.block_ids:
        line = _item_line(data, block_id)
        attached = found.blocks.get(block_id)
        if block_id not in present:
            found.problems.append(Problem(agent.path, line, f"block {block_id!r} does not exist"))
        elif attached is None:
            continue  # the block file itself is reported
        elif attached.label in labels:
            found.problems.append(
                Problem(
                    agent.path,
                    line,
                    f"blocks {labels[attached.label]!r} and {block_id!r} are both labelled "
                    f"{attached.label!r}; labels must be unique per agent",
                )
            )
        else:
            labels[attached.label] = block_id


def _item_line(data: bytes, item: str) -> int:
    """The line of ``- item`` in a manifest's block list (1 if it is written another way)."""
    pattern = re.compile(rf"\s*-\s*(['\"]?){re.escape(item)}\1\s*(#.*)?")
    lines = data.decode("utf-8", "replace").split("\n")
    return next((n for n, line in enumerate(lines, 1) if pattern.fullmatch(line)), 1)


def _problem(path: str, error: ValidationError) -> Problem:
    """A Problem from an error that reads ``path:line: message`` (or just ``message``)."""
    text = str(error)
    line, sep, message = text.removeprefix(f"{path}:").partition(": ")
    if text.startswith(f"{path}:") and sep and line.isdigit():
        return Problem(path, int(line), message)
    return Problem(path, 1, text)


# -- where the files come from -------------------------------------------------


def head_files(snap: Snapshot) -> Iterator[StoreFile]:
    """The store's files at a commit; links and submodules there are reported, not read."""
    for top in (SETTINGS, GITATTRIBUTES, "blocks", "agents"):
        for path, mode, sha in snap.entries(top):
            if not safefs.is_safe(path):
                yield StoreFile(_shown(path), refused=_BAD_NAME)
                continue
            reason = "is a submodule, not a file" if mode == _GITLINK else safefs.refusal(mode)
            if reason:
                yield StoreFile(path, refused=reason)
                continue
            try:
                yield StoreFile(path, snap.repo.blob(sha))
            except CorruptError:
                yield StoreFile(
                    path, refused="cannot be read: its Git object is missing or damaged"
                )


def disk_files(root: Path) -> Iterator[StoreFile]:
    """The store's files in the working tree, never following a link.

    Editors' temporary and backup files (``.x.md.swp``, ``x.md~``, ``#x.md#``,
    vim's ``4913`` probe, anything hidden) are not store files and are skipped.
    """
    for top in (SETTINGS, GITATTRIBUTES, "blocks", "agents"):
        for path, _ in safefs.walk(root, top):
            parts = path.split("/")
            if any(_editor_file(part) for part in parts[1:]):
                continue
            if not safefs.is_safe(path):
                yield StoreFile(_shown(path), refused=_BAD_NAME)
                continue
            try:
                data = safefs.read(root, path, blockfmt.MAX_FILE_BYTES)
            except safefs.Refused as e:
                yield StoreFile(path, refused=e.reason)
                continue
            if data is not None:
                yield StoreFile(path, data)


def _editor_file(name: str) -> bool:
    return (
        name.startswith((".", "#"))
        or name.endswith(("~", ".swp", ".swo", ".swx", ".tmp"))
        or name == "4913"
    )


def _shown(path: str) -> str:
    """``path`` printable on one line: control characters and undecodable bytes escaped."""
    raw = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in raw)


# -- the whole store -----------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Everything ``gitmem check`` found, and how much it looked at."""

    problems: list[Problem]
    blocks: int
    agents: int
    objects: int


def check_store(root: Path) -> Report:
    """Check the store at ``root``: its Git objects and lock files, and its files at
    the branch head and on disk (a problem in both is reported once)."""
    problems = [Problem(p.path, 1, p.message, ("git",)) for p in gitcheck.stale_locks(root)]
    cache: Parses = {}
    objects = 0
    head = Checked()
    repo = GitRepo(root)
    try:
        try:
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
        disk = check_files(disk_files(root), cache)
    finally:
        repo.close()
    where: dict[tuple[str, int, str], tuple[str, ...]] = {}
    for source, checked in (("HEAD", head), ("disk", disk)):
        for p in checked.problems:
            key = (p.path, p.line, p.message)
            where[key] = (*where.get(key, ()), source)
    problems += [Problem(*key, found) for key, found in where.items()]
    problems.sort(key=lambda p: (p.path, p.line))
    return Report(problems, len(head.blocks), len(head.agents), objects)
