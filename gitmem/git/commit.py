"""What a commit says: who it is by, what one operation writes and why (the
message with gitmem's trailers), and that read back from a commit for history."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from dulwich.objects import Commit, ObjectID
from dulwich.trailers import Trailer, format_trailers, parse_trailers

CommitId = ObjectID  # a commit's hex id, for modules that do not speak Git
ARGS = "Gitmem-Args"


@dataclass(frozen=True)
class Identity:
    """Who a commit is by."""

    name: str
    email: str

    def __bytes__(self) -> bytes:
        return f"{self.name} <{self.email}>".encode()


def agent_identity(agent_id: str) -> Identity:
    return Identity(agent_id, f"{agent_id}@agents.gitmem")


@dataclass(frozen=True)
class Change:
    """What one operation writes: file contents by path (None deletes) and who/why.

    ``from_disk`` names the paths whose content a person wrote in the working
    tree, each with the blob id of the file as it was read (None: no file).
    Their index entries become the commit's version, and the file is rewritten
    to it only if it is still as it was read.

    ``merge`` is a commit this change joins (a pull): it becomes the second
    parent. With ``fast_forward`` the branch moves to ``merge`` itself, whose
    tree is the head's with ``files``; no commit is made.

    ``args`` are the operation's arguments, written as one JSON trailer so a
    merge elsewhere can replay the operation (see gitmem/model/replay.py).
    """

    files: Mapping[str, bytes | None]
    op: str
    target: str
    author: Identity
    agent: str | None = None
    blocks: tuple[str, ...] = ()
    subject: str | None = None
    from_disk: Mapping[str, str | None] = field(default_factory=dict)
    merge: ObjectID | None = None
    fast_forward: bool = False
    args: Mapping[str, object] | None = None

    def message(self) -> bytes:
        trailers = [Trailer("Gitmem-Op", self.op)]
        if self.agent:
            trailers.append(Trailer("Gitmem-Agent", self.agent))
        trailers += [Trailer("Gitmem-Block", b) for b in self.blocks]
        if self.args is not None:
            # One line whatever the strings hold: json escapes newlines.
            trailers.append(Trailer(ARGS, json.dumps(self.args, ensure_ascii=False)))
        subject = self.subject or f"{self.op}: {self.target}"
        return f"{subject}\n\n".encode() + format_trailers(trailers)


@dataclass(frozen=True)
class LogEntry:
    """One commit as history shows it, with the gitmem trailers read back."""

    commit: str
    parents: tuple[str, ...]
    author: str
    time: int
    subject: str
    op: str | None
    agent: str | None
    blocks: tuple[str, ...]
    args: Mapping[str, object] | None = None

    @classmethod
    def from_commit(cls, commit: Commit) -> LogEntry:
        _, trailers = parse_trailers(commit.message)
        values: dict[str, list[str]] = {}
        for t in trailers:
            values.setdefault(t.key, []).append(t.value)
        return cls(
            commit=commit.id.decode(),
            parents=tuple(p.decode() for p in commit.parents),
            author=commit.author.decode(errors="replace"),
            time=commit.author_time,
            subject=commit.message.decode(errors="replace").split("\n", 1)[0],
            op=next(iter(values.get("Gitmem-Op", [])), None),
            agent=next(iter(values.get("Gitmem-Agent", [])), None),
            blocks=tuple(values.get("Gitmem-Block", [])),
            args=_args(values.get(ARGS, [])),
        )


def _args(found: list[str]) -> Mapping[str, object] | None:
    """An operation's arguments; None when absent or not what gitmem writes
    (a commit message is anyone's text)."""
    try:
        args = json.loads(found[0]) if len(found) == 1 else None
    except ValueError:
        return None
    return args if isinstance(args, dict) else None
