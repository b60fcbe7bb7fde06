"""Replaying memory operations onto a block's value: how a pull merges a block
that changed on both sides (pure: values and operations in, a value out).

Merging two texts cannot tell an insert from a rewrite, so deployments that
each merged the other's appends their own way ended with two orders of the
same lines and conflicts on every later sync. Each memory operation's commit
records what it did (``Gitmem-Args``), so instead the other side's operations
are applied again to our value, as if they had been made here after ours:

- an insert always lands: appended after ours, put at the top, or after the
  line it followed when made (a conflict only if that line is gone or no
  longer unique);
- a replace lands while its ``old_string`` appears exactly once (and is
  already done if only its ``new_string`` appears);
- rewrites (``memory_rethink``, ``blocks.update(value=...)``, a revert, ...)
  are last-writer-wins by (commit time, commit id), the same order in every
  deployment: operations after the winning rewrite are applied to it, those
  before it are gone, as they would be in one store. A rewrite that only
  added lines is replayed as the insert it is.

A person's edit (a commit without an operation, or ``gitmem commit``) is
replayable when its diff is one insertion (an append, say); otherwise it can
only stay on the side whose value we start from, and when both sides have such
edits the caller falls back to the three-way merge (gitmem/model/merge.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gitmem.model.block import value_lines

Kind = Literal["insert", "replace", "rewrite", "edit"]
# Operations whose commit holds the whole new value: last writer wins.
REWRITES = frozenset(
    {"memory_rethink", "update_block", "create_block", "create_agent", "revert_block"}
)


@dataclass(frozen=True)
class Op:
    """What one commit did to a block's value.

    ``insert``: ``text`` went after line ``after`` (None: at the top), or at the
    end with ``at_end``. ``replace``: ``old`` became ``text``. ``rewrite``: the
    value became ``text``. ``edit``: a change that cannot be replayed.
    ``key`` orders rewrites the same way everywhere: (commit time, commit id).
    """

    kind: Kind
    key: tuple[int, str]
    who: str
    name: str  # the operation as its commit names it, for reports
    text: str = ""
    old: str = ""
    after: str | None = None
    at_end: bool = False

    def describe(self) -> str:
        return f"{self.name} by {self.who} ({self.key[1][:12]})"


def classify(
    name: str | None,
    args: Mapping[str, object] | None,
    before: str,
    after: str,
    *,
    key: tuple[int, str],
    who: str,
) -> Op:
    """The operation a commit made, from its ``Gitmem-Op`` name and arguments
    and the block's value before and after it."""
    shown = name or "edit"
    if name == "memory_replace" and args is not None:
        old, new = str(args.get("old_string", "")), str(args.get("new_string", ""))
        if old and before.count(old) == 1 and before.replace(old, new) == after:
            return Op("replace", key, who, shown, text=new, old=old)
    # Inserts are read from the diff: what the commit did is exactly what is
    # replayed. So is a rewrite or a person's edit that only added lines: an
    # append made with memory_rethink or blocks.update is an insert, and must
    # not make a concurrent insert elsewhere lose to "the last writer".
    inserted = _insertion(shown, before, after, key, who)
    if inserted is not None:
        return inserted
    return Op("rewrite" if name in REWRITES else "edit", key, who, shown, text=after)


def _insertion(name: str, before: str, after: str, key: tuple[int, str], who: str) -> Op | None:
    """The edit as one block of inserted lines, if that is all it is."""
    old, new = value_lines(before), value_lines(after)
    added = len(new) - len(old)
    if added <= 0:
        return None
    start = 0
    while start < len(old) and old[start] == new[start]:
        start += 1
    if new[start + added :] != old[start:]:
        return None
    text = "\n".join(new[start : start + added])
    if start == len(old):
        return Op("insert", key, who, name, text=text, at_end=True)
    return Op("insert", key, who, name, text=text, after=old[start - 1] if start else None)


@dataclass(frozen=True)
class Failed:
    """An operation of the other side that no longer applies here, and why."""

    op: Op
    why: str


@dataclass(frozen=True)
class Replayed:
    """The merged value; ``failed`` lists operations that conflict (the value
    then leaves them out), ``settled`` says what a strategy did about each."""

    value: str
    failed: tuple[Failed, ...] = ()
    settled: tuple[str, ...] = ()


def merge_values(
    ours: str,
    theirs: str,
    ours_ops: Sequence[Op],
    theirs_ops: Sequence[Op],
    *,
    prefer: Literal["ours", "theirs"] | None = None,
) -> Replayed | None:
    """Merge a block's value from both sides' operations since they parted
    (each side's in the order made); None when neither side's value can take
    the other's operations (both have edits that cannot be replayed).

    ``prefer`` (a ``--strategy``) starts from that side where possible, and
    settles what fails instead of reporting it: an insert whose line is gone
    is appended, a replace that no longer applies is dropped.
    """
    if not ours_ops and not theirs_ops:
        # Both sides hold the same operations, merged in two orders (two
        # deployments that pulled each other at once): whoever merges, take
        # the same one, so the next pull makes both heads equal.
        return Replayed(min(ours, theirs))
    if not theirs_ops:
        return Replayed(ours)
    if not ours_ops:
        return Replayed(theirs)
    sides = [(ours, ours_ops, theirs_ops), (theirs, theirs_ops, ours_ops)]
    if prefer == "theirs":
        sides.reverse()
    for value, mine, other in sides:
        result = _onto(value, mine, other, settle=prefer is not None)
        if result is not None:
            return result
    return None


def _onto(value: str, mine: Sequence[Op], other: Sequence[Op], settle: bool) -> Replayed | None:
    """``value`` (the result of ``mine``) with ``other`` replayed on it."""
    if any(op.kind == "edit" for op in other):
        return None
    order = _interleave(mine, other)
    rewrites = [i for i, (_, op) in enumerate(order) if op.kind == "rewrite"]
    last = rewrites[-1] if rewrites else -1
    if last >= 0 and not order[last][0]:  # the other side's rewrite wins
        later = order[last + 1 :]
        if any(op.kind == "edit" for _, op in later):
            return None
        value, todo = order[last][1].text, [op for _, op in later]
    else:
        todo = [op for is_mine, op in order[last + 1 :] if not is_mine]
    failed: list[Failed] = []
    settled: list[str] = []
    for op in todo:
        new, why = apply(value, op)
        if why is None:
            value = new
        elif not settle:
            failed.append(Failed(op, why))
        elif op.kind == "insert":
            value = "\n".join([*value_lines(value), *op.text.split("\n")])
            settled.append(f"{op.describe()}: {why}; appended at the end instead")
        else:
            settled.append(f"{op.describe()}: {why}; dropped ({op.old!r} -> {op.text!r})")
    return Replayed(value, tuple(failed), tuple(settled))


def _interleave(mine: Sequence[Op], other: Sequence[Op]) -> list[tuple[bool, Op]]:
    """Both sides' operations in one order: each side's own order kept, the
    earlier (time, id) first where they interleave, the same in every deployment."""
    out: list[tuple[bool, Op]] = []
    i = j = 0
    while i < len(mine) or j < len(other):
        if j == len(other) or (i < len(mine) and mine[i].key <= other[j].key):
            out.append((True, mine[i]))
            i += 1
        else:
            out.append((False, other[j]))
            j += 1
    return out


def apply(value: str, op: Op) -> tuple[str, str | None]:
    """``op`` made on ``value``: (new value, None), or (value, why it cannot be)."""
    if op.kind == "rewrite":
        return op.text, None
    if op.kind == "replace":
        count = value.count(op.old)
        if count == 1:
            return value.replace(op.old, op.text), None
        if count == 0 and op.text and value.count(op.text) == 1:
            return value, None  # the same replace was made here too
        where = "no longer appears" if count == 0 else f"now appears {count} times"
        return value, f"old_string {op.old!r} {where}"
    if op.kind == "insert":
        current, new = value_lines(value), op.text.split("\n")
        if op.at_end:
            return "\n".join([*current, *new]), None
        if op.after is None:
            return "\n".join([*new, *current]), None
        found = [i for i, line in enumerate(current) if line == op.after]
        if len(found) == 1:
            at = found[0] + 1
            return "\n".join([*current[:at], *new, *current[at:]]), None
        where = "is gone" if not found else f"now appears {len(found)} times"
        return value, f"the line it was inserted after ({op.after!r}) {where}"
    return value, "a person's edit cannot be replayed"
