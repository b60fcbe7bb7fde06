"""The one rule set for store files (``model/rules.py``: each file by itself)
applied to a change of a whole store: Git modes (``mode_refusal``) and the files
together (attached blocks exist, labels unique per agent, no attached block
deleted, no path where another's file or directory is: ``check_files``).

Used by ``gitmem commit``, ``gitmem edit``, the pre-commit hook, the merge
driver, pulls and clones, and by ``gitmem check`` on a whole tree, so all of
them refuse the same files with the same lines. Every problem is one line
``path:line: message``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gitmem.errors import BadFileError, ValidationError
from gitmem.git import safefs
from gitmem.model.block import Block
from gitmem.model.ids import agent_id_of, agent_path, block_id_of, block_path
from gitmem.model.manifest import Agent
from gitmem.model.rules import (
    Files,
    Lookup,
    attachment_problems,
    classify,
    key_line,
    parse_file,
)
from gitmem.model.settings import SETTINGS, parse_settings
from gitmem.ops.view import introduced

if TYPE_CHECKING:
    from gitmem.git.commit import CommitId
    from gitmem.ops.view import View

REGULAR_FILE = 0o100644
_GITLINK = 0o160000
EXECUTABLE = 0o100755


def mode_refusal(mode: int) -> str | None:
    """Why a file of this Git mode is no block or manifest, or None for a plain file."""
    if mode == REGULAR_FILE:
        return None
    if mode == _GITLINK:
        return "is a submodule, not a file"
    if mode == EXECUTABLE:
        return "is an executable file; blocks and manifests must be plain files"
    return (
        safefs.refusal(mode) or f"has Git mode {mode:o}; blocks and manifests must be plain files"
    )


def check_files(view: View, files: Files, *, partial: bool = True) -> dict[str, str]:
    """The problem of each file in ``files`` (None: deleted) as a change to ``view``.

    ``partial``: the files without a problem may be committed without the
    others (``gitmem commit``), so a file that needs a refused one is refused
    too. Otherwise the change goes in whole or not at all (a pull, git's
    commit of its index), and only the files that are wrong themselves are named.
    """
    problems: dict[str, str] = {}
    settings = view.settings
    new_settings = files.get(SETTINGS)
    if new_settings is not None:
        try:
            settings = parse_settings(new_settings, branch=view.settings.branch)
        except ValidationError as e:
            problems[SETTINGS] = str(e)
    blocks: dict[str, Block | None] = {}
    agents: dict[str, Agent | None] = {}
    gone = {p for p, d in files.items() if d is None}
    for path, data in files.items():
        if path in problems:
            continue
        role, name = classify(path)
        if data is None:
            if role in ("settings", "attributes"):
                problems[path] = f"{path}: the store's own file cannot be deleted"
            elif role == "block":
                blocks[name] = None
            elif role == "agent":
                agents[name] = None
            continue
        try:
            parsed = parse_file(path, data, settings.default_limit)
        except ValidationError as e:
            problems[path] = str(e)
            continue
        clash = None if view.snap.blob_id(path) else view.path_clash(path, gone)
        if clash:
            problems[path] = f"{path}:1: {clash}"
            continue
        if isinstance(parsed, Block):
            blocks[parsed.id] = parsed
        elif isinstance(parsed, Agent):
            agents[parsed.id] = parsed
    refused: set[str] = set() if partial else set(problems)
    # Leaving out one file can break another (a manifest that attached a
    # refused block), so check again until nothing new is found.
    while True:
        found = _together(view, blocks, agents, files, refused)
        if not found:
            return problems
        problems.update(found)
        if not partial:
            refused.update(found)
        for path in found:
            blocks.pop(block_id_of(path) or "", None)
            agents.pop(agent_id_of(path) or "", None)


def _together(
    view: View,
    blocks: dict[str, Block | None],
    agents: dict[str, Agent | None],
    files: Files,
    refused: set[str],
) -> dict[str, str]:
    """Problems between files: attachments and labels as the change leaves them
    (``refused``: files whose own problem stops the whole change)."""
    pending = {k: b for k, b in blocks.items() if b is not None}
    everyone = {a.id: a for a in view.agents()}
    everyone.update({k: a for k, a in agents.items() if a is not None})
    for gone in (k for k, a in agents.items() if a is None):
        everyone.pop(gone, None)
    found: dict[str, str] = {}

    def lookup_in(valid: Mapping[str, Block]) -> Lookup:
        def lookup(block_id: str) -> Block | str | None:
            path = block_path(block_id)
            if block_id in valid:
                return valid[block_id]
            if path in refused or path in found:
                return "refused"  # said already; a partial change is checked again without it
            if block_id in blocks:
                return None  # deleted
            try:
                return view.find_block(block_id)
            except BadFileError as e:
                return str(e)

        return lookup

    for block_id, block in blocks.items():
        path = block_path(block_id)
        holders = [a for a in everyone.values() if block_id in a.block_ids]
        if block is None:
            if holders:
                found[path] = (
                    f"{path}: deleted, but attached to {', '.join(a.id for a in holders)}; "
                    "detach it first (or restore the file)"
                )
            continue
        # A label this file changed: the problem is this file's (a missing
        # block is its manifest's).
        clash = (
            f"{path}:{key_line(files[path], 'label')}: in agent {holder.id!r}, {message}"
            for holder in holders
            for _, message, ids in attachment_problems(holder, b"", lookup_in(pending))
            if block_id in ids and len(ids) == 2
        )
        problem = next(clash, None)
        if problem:
            found[path] = problem
    # A manifest is checked against the blocks that passed: the label a block
    # file changed is that file's problem, not the manifest's.
    passed = {k: b for k, b in pending.items() if block_path(k) not in found}
    for agent_id, agent in agents.items():
        path = agent_path(agent_id)
        data = files[path]
        if agent is None or data is None:
            continue
        for line, message, _ in attachment_problems(agent, data, lookup_in(passed)):
            found[path] = f"{path}:{line}: {message}"
            break
    return found


def check_incoming(view: View, files: Files, modes: Mapping[str, int]) -> dict[str, str]:
    """The problem of each file arriving whole from elsewhere (a pull, a clone, a
    plain ``git commit``): each must be a plain file (``modes``: its Git mode) and
    then be a valid change to ``view`` like any write (a block, a manifest, or the
    store's own gitmem.yaml, .gitattributes or .gitignore)."""
    problems = {
        path: f"{path}:1: {mode_refusal(mode)}"
        for path, mode in modes.items()
        if mode_refusal(mode)
    }
    rest = {p: d for p, d in files.items() if p not in problems}
    problems.update(check_files(view, rest, partial=False))
    return problems


def pull_refusal(view: View, theirs: CommitId, remote: str, problems: Mapping[str, str]) -> str:
    """Why a pull of ``theirs`` from ``remote`` is refused: each problem with the
    commit that made the remote's file so and its author, and how to fix it."""
    at = view.snap.repo.snapshot(theirs)
    lines = [f"pull from {remote} refused; nothing was changed here:"]
    lines += [problems[p] + introduced(at, p) for p in sorted(problems)]
    lines.append(
        "to fix: where that commit was made, correct the file on disk, then gitmem commit "
        "and gitmem push (in a plain git clone: git commit -a, git push); then pull again"
    )
    return "\n".join(lines)
