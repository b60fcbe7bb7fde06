"""Checking files before they join the store, as every write is checked: each file
by itself (schema, id, limit) and with the rest of the store (attached blocks
exist, labels unique per agent, no attached block deleted).

Used by ``gitmem init``, ``gitmem commit``, ``gitmem edit``, the pre-commit
hook and pulls. Every problem is one line ``path:line: message``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gitmem import block as blockfmt
from gitmem import manifest as manifestfmt
from gitmem.block import Block, block_path
from gitmem.errors import GitmemError, ValidationError
from gitmem.manifest import Agent, agent_path
from gitmem.view import SETTINGS, parse_settings

if TYPE_CHECKING:
    from gitmem.view import View

GITATTRIBUTES = ".gitattributes"
GITIGNORE = ".gitignore"  # written by init; any content is harmless
STORE_FILES = (SETTINGS, GITATTRIBUTES)
Files = Mapping[str, bytes | None]
# A conflict a person has not resolved yet: git's markers, in order, each at
# the start of a line.
_MARKERS = re.compile(r"^<{7}(?: .*)?\n(?:.*\n)*?={7}\n(?:.*\n)*?>{7}(?: .*)?$", re.MULTILINE)


def block_id_of(path: str) -> str | None:
    """The block id a path under ``blocks/`` names, or None for any other path."""
    if path.startswith("blocks/") and path.endswith(".md"):
        return path[len("blocks/") : -len(".md")]
    return None


def agent_id_of(path: str) -> str | None:
    """The agent id a manifest path names, or None for any other path."""
    if path.startswith("agents/") and path.endswith(".yaml") and path.count("/") == 1:
        return path[len("agents/") : -len(".yaml")]
    return None


def parse_file(path: str, data: bytes, default_limit: int) -> Block | Agent | None:
    """Parse a block or a manifest by its path; None for the store's own files."""
    block_id = block_id_of(path)
    if block_id is not None:
        return blockfmt.parse(data, block_id=block_id, path=path, default_limit=default_limit)
    agent_id = agent_id_of(path)
    if agent_id is not None:
        return manifestfmt.parse(data, agent_id=agent_id, path=path)
    if path == SETTINGS:
        parse_settings(data)
        return None
    if path in (GITATTRIBUTES, GITIGNORE):
        return None
    raise ValidationError(
        f"{path}: not a block or an agent manifest "
        "(a store holds blocks/<id>.md, agents/<id>.yaml and gitmem.yaml)"
    )


def marker_problem(path: str, data: bytes) -> str | None:
    """The unresolved conflict in ``data`` a person must resolve first, if any."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    found = _MARKERS.search(text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    return f"{path}:{line}: unresolved conflict (<<<<<<< ... >>>>>>> lines); resolve it first"


def check_files(view: View, files: Files, *, markers: bool = False) -> dict[str, str]:
    """The problem of each file in ``files`` (None: deleted) as a change to ``view``.

    A file refused here is left out when the others are checked together, so
    the files without a problem can be committed as one consistent change.
    ``markers`` also refuses unresolved conflict markers (files people wrote).
    """
    problems: dict[str, str] = {}
    settings = view.settings
    new_settings = files.get(SETTINGS)
    if new_settings is not None:
        try:
            settings = parse_settings(new_settings)
        except ValidationError as e:
            problems[SETTINGS] = str(e)
    blocks: dict[str, Block | None] = {}
    agents: dict[str, Agent | None] = {}
    for path, data in files.items():
        if path in problems:
            continue
        if data is None:
            block_id, agent_id = block_id_of(path), agent_id_of(path)
            if path in STORE_FILES:
                problems[path] = f"{path}: the store's own file cannot be deleted"
            elif block_id is not None:
                blocks[block_id] = None
            elif agent_id is not None:
                agents[agent_id] = None
            continue
        try:
            problem = marker_problem(path, data) if markers else None
            if problem:
                raise ValidationError(problem)
            parsed = parse_file(path, data, settings.default_limit)
        except ValidationError as e:
            problems[path] = str(e)
            continue
        if isinstance(parsed, Block):
            blocks[parsed.id] = parsed
        elif isinstance(parsed, Agent):
            agents[parsed.id] = parsed
    # Leaving out one file can break another (a manifest that attached a
    # refused block), so check again until nothing new is found.
    while True:
        found = _together(view, blocks, agents, files)
        if not found:
            return problems
        problems.update(found)
        for path in found:
            blocks.pop(block_id_of(path) or "", None)
            agents.pop(agent_id_of(path) or "", None)


def _together(
    view: View, blocks: dict[str, Block | None], agents: dict[str, Agent | None], files: Files
) -> dict[str, str]:
    """Problems between files: attachments and labels as the change leaves them."""
    pending = {k: b for k, b in blocks.items() if b is not None}
    everyone = {a.id: a for a in view.agents()}
    everyone.update({k: a for k, a in agents.items() if a is not None})
    for gone in (k for k, a in agents.items() if a is None):
        everyone.pop(gone, None)
    found: dict[str, str] = {}
    for block_id, block in blocks.items():
        path = block_path(block_id)
        holders = [a.id for a in everyone.values() if block_id in a.block_ids]
        if block is None:
            if holders:
                found[path] = (
                    f"{path}: deleted, but attached to {', '.join(holders)}; "
                    "detach it first (or restore the file)"
                )
            continue
        for holder in holders:
            problem = _labels(view, everyone[holder], pending)
            if problem:
                found[path] = f"{path}:{_key_line(files[path], 'label')}: {problem}"
                break
    # A manifest is checked against the blocks that passed: the label a block
    # file changed is that file's problem, not the manifest's.
    passed = {k: b for k, b in pending.items() if block_path(k) not in found}
    for agent_id, agent in agents.items():
        path = agent_path(agent_id)
        problem = _labels(view, agent, passed) if agent else None
        if problem:
            found[path] = f"{path}:{_key_line(files[path], 'blocks')}: {problem}"
    return found


def _labels(view: View, agent: Agent, pending: Mapping[str, Block]) -> str | None:
    try:
        view.check_labels(agent, pending)
    except GitmemError as e:
        return str(e)
    return None


def _key_line(data: bytes | None, key: str) -> int:
    """The line of a top-level ``key:`` in a file that parsed, for messages."""
    lines = (data or b"").decode("utf-8", errors="replace").split("\n")
    return next((i for i, line in enumerate(lines, 1) if line.startswith(f"{key}:")), 1)


REGULAR_FILE = 0o100644
_NOT_PLAIN = {0o120000: "a symlink", 0o160000: "a submodule", 0o100755: "an executable file"}


def check_incoming(
    view: View, files: Files, modes: Mapping[str, int], *, markers: bool = False
) -> dict[str, str]:
    """The problem of each file arriving from elsewhere (a pull, a clone, a plain
    ``git commit``): each must be a plain file (``modes``: its Git mode) and then
    be a valid change to ``view`` like any write: a block or manifest with a valid
    id and schema within its limit, or the store's own gitmem.yaml, .gitattributes
    or .gitignore."""
    problems = {
        path: f"{path}: is {_NOT_PLAIN.get(mode, f'of mode {mode:o}')}; "
        "blocks and manifests must be plain files"
        for path, mode in modes.items()
        if mode != REGULAR_FILE
    }
    rest = {p: d for p, d in files.items() if p not in problems}
    problems.update(check_files(view, rest, markers=markers))
    return problems
