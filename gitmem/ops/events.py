"""What an agent is told when a commit changes its memory: one event per
(attached agent, changed block, commit), with attachments read at that commit.
An agent is told nothing about blocks it does not have."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from gitmem.errors import GitmemError
from gitmem.git.commit import LogEntry
from gitmem.model.block import Block, dump
from gitmem.model.ids import AGENTS, agent_id_of, block_id_of, block_path
from gitmem.ops.view import View

KINDS = ("updated", "created", "deleted", "attached", "detached")
DIFF_LIMIT = 4000  # characters of diff in one event; the rest is counted, not shown
Report = Callable[[str], None]


@dataclass(frozen=True)
class Event:
    """Block ``block`` of agent ``agent`` changed in ``commit`` (compared with
    ``parent``): ``kind`` is one of KINDS, ``op`` the operation (``git`` for a
    commit made without gitmem, ``merge`` for such a merge), ``author`` who made
    it (``Name <email>``), ``time`` when (Unix seconds), ``diff`` the change of
    the value as a unified diff without file headers ("" when it did not change);
    when the front matter changed too, the diff of the whole file."""

    kind: str
    agent: str
    block: str
    label: str
    commit: str
    parent: str
    op: str
    author: str
    time: int
    diff: str

    def as_dict(self) -> dict[str, str | int]:
        return dataclasses.asdict(self)

    def line(self) -> str:
        """One line for people: ``<commit> <agent>: <kind> <block> (<label>) by <who>, <op>``."""
        who = self.author.split(" <", 1)[0]
        return (
            f"{self.commit[:10]} {self.agent}: {self.kind} {self.block} ({self.label}) "
            f"by {who}, {self.op}"
        )


def events(
    before: View,
    after: View,
    changed: Collection[str],
    commit: LogEntry,
    *,
    agents: Collection[str] | None = None,
    op: str | None = None,
    report: Report = lambda message: None,
) -> list[Event]:
    """The events of going from ``before`` to ``after`` (the views of ``commit``'s
    parent, or of the last commit delivered, and of ``commit``), given the
    ``changed`` file paths. ``agents``: only these (None: every agent).
    ``op`` overrides the commit's own operation."""
    blocks = {b for b in map(block_id_of, changed) if b is not None}
    manifests = {a for a in map(agent_id_of, changed) if a is not None}
    if not blocks and not manifests:
        return []
    had = _attachments(before, agents, report)
    has = _attachments(after, agents, report)
    shown = op or commit.op or ("merge" if len(commit.parents) > 1 else "git")
    found = []
    for agent in agents if agents is not None else sorted(had.keys() | has.keys()):
        old, new = had.get(agent, ()), has.get(agent, ())
        if old is None or new is None:
            continue  # the manifest does not parse on one side: reported
        for block_id in dict.fromkeys([*new, *old]):
            kind = _kind(before, after, block_id, block_id in old, block_id in new, blocks)
            if kind is None:
                continue
            was, now = _block(before, block_id, report), _block(after, block_id, report)
            label = now.label if now else was.label if was else ""
            diff = _diff(was, now)
            if kind in ("attached", "detached"):
                diff = ""
            found.append(
                Event(
                    kind=kind,
                    agent=agent,
                    block=block_id,
                    label=label,
                    commit=commit.commit,
                    parent=before.snap.commit.decode() if before.snap.commit else "",
                    op=shown,
                    author=commit.author,
                    time=commit.time,
                    diff=diff,
                )
            )
    return found


def _kind(
    before: View, after: View, block_id: str, had: bool, has: bool, changed: Collection[str]
) -> str | None:
    path = block_path(block_id)
    existed, exists = before.snap.blob_id(path) is not None, after.snap.blob_id(path) is not None
    if has and not had:
        return "created" if exists and not existed else "attached"
    if had and not has:
        return "deleted" if existed and not exists else "detached"
    if block_id not in changed:
        return None
    return "created" if not existed else "deleted" if not exists else "updated"


def _attachments(
    view: View, agents: Collection[str] | None, report: Report
) -> Mapping[str, tuple[str, ...] | None]:
    """Each agent's attached block ids at ``view`` (None: its manifest does not parse)."""
    if agents is None:
        agents = [a for a in map(agent_id_of, (p for p, _ in view.snap.files(AGENTS))) if a]
    found: dict[str, tuple[str, ...] | None] = {}
    for agent_id in agents:
        try:
            agent = view.find_agent(agent_id)
        except GitmemError as e:
            report(f"{e} (in commit {_short(view)})")
            found[agent_id] = None
            continue
        found[agent_id] = agent.block_ids if agent else ()
    return found


def _block(view: View, block_id: str, report: Report) -> Block | None:
    try:
        return view.find_block(block_id)
    except GitmemError as e:
        report(f"{e} (in commit {_short(view)})")
        return None


def _diff(was: Block | None, now: Block | None) -> str:
    """The value's diff; when the front matter changed too (a new label, limit,
    ...), the whole file's, front matter first, as ``git diff`` shows it."""
    if was and now and _front(was) != _front(now):
        old, new = (dump(b).decode().removesuffix("\n") for b in (was, now))
        return value_diff(old, new)
    return value_diff(was.value if was else "", now.value if now else "")


def _front(block: Block) -> Block:
    return dataclasses.replace(block, value="", version=None)


def _short(view: View) -> str:
    return view.snap.commit.decode()[:10] if view.snap.commit else "(none)"


def value_diff(old: str, new: str, limit: int = DIFF_LIMIT) -> str:
    """A unified diff of two values, one line of context, at most ``limit`` characters."""
    lines = difflib.unified_diff(
        old.split("\n") if old else [], new.split("\n") if new else [], lineterm="", n=1
    )
    body = list(lines)[2:]  # no ---/+++ headers: the event names the block
    text = "\n".join(body)
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    kept = text[: max(cut, 0)]
    more = len(body) - (kept.count("\n") + 1 if kept else 0)
    return f"{kept}\n... ({more} more lines)".lstrip("\n")
