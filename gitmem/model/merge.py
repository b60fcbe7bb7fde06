"""Block-aware 3-way merge of block files and agent manifests (pure: bytes in, bytes out).

One implementation for every path that merges: committing a person's file over
a branch that moved, ``gitmem edit``, the merge driver plain git runs, and pull.

- Front matter merges key by key; both sides changing one key differently
  is a conflict.
- A value changed by memory operations is merged by replaying one side's
  operations onto the other's value (gitmem/model/replay.py), when the caller (a
  pull) passes each side's operations. Otherwise it is a line merge by
  ``merge3`` (the library ``dulwich.merge`` runs on) where lines that only one
  side added are kept even next to the other side's change: appends on both
  sides keep both, ours then theirs' lines that ours lacks.
- A manifest's attachments merge as sets relative to the base.
- The merged file is parsed back, so it is checked like any write (schema,
  id, limit). Rules that need the store's other files (labels unique per
  agent, attached blocks exist) are ``validate.check_files(view, files)`` on
  the merged files: the caller supplies the view they join.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import merge3

from gitmem.errors import ValidationError
from gitmem.model import block as blockfmt
from gitmem.model import manifest as manifestfmt
from gitmem.model import replay
from gitmem.model.block import DEFAULT_LIMIT, Block
from gitmem.model.manifest import Agent
from gitmem.model.rules import parse_file
from gitmem.model.yamlmap import checked, dump_mapping

Strategy = Literal["ours", "theirs"]
BLOCK_FIELDS = blockfmt.KEYS
AGENT_FIELDS = ("name", "description", "model", "metadata")
_NO_VALUE = object()  # a key one side does not have


@dataclass(frozen=True)
class Hunk:
    """One conflicting change: what base, ours and theirs have there (None: no file)."""

    where: str
    base: str | None
    ours: str | None
    theirs: str | None


@dataclass(frozen=True)
class Merged:
    """The result of merging one file.

    ``data`` is the merged file when the merge is clean (None: deleted).
    Otherwise ``conflicts`` lists the hunks and/or ``error`` says why the
    result is not a valid file, and ``marked`` is the text a person resolves:
    conflicts between standard ``<<<<<<<``/``=======``/``>>>>>>>`` markers.
    ``settled`` says what a strategy dropped or moved, a line each.
    """

    path: str
    data: bytes | None
    conflicts: tuple[Hunk, ...] = ()
    error: str | None = None
    marked: bytes | None = None
    settled: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.conflicts and self.error is None

    def report(self, ours: str = "ours", theirs: str = "theirs") -> str:
        """Each conflicting hunk with its base, ours and theirs, for a person to read."""
        lines = [self.error] if self.error else []
        width = max(len("base"), len(ours), len(theirs)) + 1
        for hunk in self.conflicts:
            lines.append(f"{self.path}: conflict in {hunk.where}:")
            for name, text in (("base", hunk.base), (ours, hunk.ours), (theirs, hunk.theirs)):
                shown = ["(no file)"] if text is None else text.split("\n") if text else ["(empty)"]
                lines += [f"  {name + ':':<{width}} {shown[0]}"]
                lines += [f"  {'':<{width}} {line}" for line in shown[1:]]
        return "\n".join(lines)


def merge_file(
    path: str,
    base: bytes | None,
    ours: bytes | None,
    theirs: bytes | None,
    *,
    strategy: Strategy | None = None,
    default_limit: int = DEFAULT_LIMIT,
    labels: tuple[str, str] = ("ours", "theirs"),
    ops: tuple[Sequence[replay.Op], Sequence[replay.Op]] | None = None,
) -> Merged:
    """Merge the store file ``path`` (None: no such file on that side).

    ``strategy`` resolves each conflicting hunk or key by taking that side;
    changes that do not conflict are kept from both sides. ``labels`` name the
    sides in conflict markers. ``ops``: each side's operations on the block
    since the sides parted, oldest first, to merge its value by replaying them.
    """
    if base == b"":
        base = None  # git hands a merge driver an empty file when there is no base
    merged = _merge(path, base, ours, theirs, strategy, default_limit, labels, ops)
    if merged.clean and merged.data is not None:
        problem = _problem(path, merged.data, default_limit)
        if problem:
            return Merged(path, None, error=problem, marked=merged.data)
    return merged


def _merge(
    path: str,
    base: bytes | None,
    ours: bytes | None,
    theirs: bytes | None,
    strategy: Strategy | None,
    default_limit: int,
    labels: tuple[str, str],
    ops: tuple[Sequence[replay.Op], Sequence[replay.Op]] | None,
) -> Merged:
    if ours == theirs:
        return Merged(path, ours)
    if base is not None and ours == base:
        return Merged(path, theirs)
    if base is not None and theirs == base:
        return Merged(path, ours)
    if base is None and (ours is None or theirs is None):
        return Merged(path, theirs if ours is None else ours)  # added on one side only
    if ours is None or theirs is None:
        # One side deleted the file, the other changed it.
        if strategy is not None:
            return Merged(path, ours if strategy == "ours" else theirs)
        hunk = Hunk("the whole file (deleted on one side)", _text(base), _text(ours), _text(theirs))
        return Merged(path, None, (hunk,))
    try:
        b, o, t = (
            None if d is None else parse_file(path, d, default_limit) for d in (base, ours, theirs)
        )
        error = None
    except ValidationError as e:
        b = o = t = None
        error = str(e)  # a side that is not a valid file cannot be merged key by key
    if isinstance(o, Block) and isinstance(t, Block) and not isinstance(b, Agent):
        return _merge_block(path, b, o, t, strategy, labels, ops)
    if isinstance(o, Agent) and isinstance(t, Agent) and not isinstance(b, Block):
        return _merge_manifest(path, b, o, t, strategy, labels)
    text = merge_lines(_text(base), _text(ours) or "", _text(theirs) or "", strategy, labels)
    data = text.merged.encode("utf-8")
    if text.conflicts or error:
        return Merged(path, None, text.conflicts, error, text.marked.encode("utf-8"))
    return Merged(path, data)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace").replace("\r\n", "\n")


def _problem(path: str, data: bytes, default_limit: int) -> str | None:
    try:
        parse_file(path, data, default_limit)
    except ValidationError as e:
        return str(e)
    return None


# -- lines ------------------------------------------------------------------


@dataclass(frozen=True)
class MergedText:
    """A merged text: ``merged`` (conflicts resolved by the strategy, else ours),
    ``marked`` (conflicts between markers), the conflicting hunks, and the
    lines the strategy dropped."""

    merged: str
    marked: str
    conflicts: tuple[Hunk, ...]
    dropped: tuple[str, ...] = ()


def merge_lines(
    base: str | None,
    ours: str,
    theirs: str,
    strategy: Strategy | None = None,
    labels: tuple[str, str] = ("ours", "theirs"),
    where: str = "line",
) -> MergedText:
    """Merge texts line by line. Where both sides changed the same place, lines
    that one side only added after the base's are kept beside the other side's
    change (appends on both sides keep both, ours first); anything else there
    is a conflict."""
    o, t = blockfmt.value_lines(ours), blockfmt.value_lines(theirs)
    b = blockfmt.value_lines(base) if base is not None else None
    if o == t or b == t:
        return MergedText(ours, ours, ())
    if b == o:
        return MergedText(theirs, theirs, ())
    merged: list[str] = []
    marked: list[str] = []
    hunks: list[Hunk] = []
    dropped: list[str] = []
    regions = merge3.Merge3(b or [], o, t).merge_regions()
    for kind, *at in regions:
        if kind == "unchanged":
            same = (b or [])[at[0] : at[1]]
        elif kind in ("a", "same"):
            same = o[at[0] : at[1]]
        elif kind == "b":
            same = t[at[0] : at[1]]
        else:
            zs, ze, os_, oe, ts, te = at
            was, mine, yours = (b or [])[zs:ze], o[os_:oe], t[ts:te]
            # Without a base (both sides made the file) nothing was only added to.
            joined = None if b is None else _join_additions(was, mine, yours)
            if joined is not None:
                merged += joined
                marked += joined
                continue
            hunks.append(
                Hunk(
                    f"{where} {zs + 1}",
                    None if b is None else "\n".join(was),
                    "\n".join(mine),
                    "\n".join(yours),
                )
            )
            kept, lost = (yours, mine) if strategy == "theirs" else (mine, yours)
            merged += kept
            dropped += [line for line in lost if line not in kept]
            marked += [f"<<<<<<< {labels[0]}", *mine, "=======", *yours, f">>>>>>> {labels[1]}"]
            continue
        merged += same
        marked += same
    conflicts = () if strategy else tuple(hunks)
    text = "\n".join(merged if strategy else marked)
    return MergedText("\n".join(merged), text, conflicts, tuple(dropped) if strategy else ())


def _join_additions(base: list[str], ours: list[str], theirs: list[str]) -> list[str] | None:
    """Both sides' lines where one side only added lines after the base's there.
    Additions that already appear, in order, on the other side are not repeated:
    a person who copied the agents' lines into the file has merged them."""
    ours_added = ours[len(base) :] if ours[: len(base)] == base else None
    theirs_added = theirs[len(base) :] if theirs[: len(base)] == base else None
    if theirs_added is not None and _contains_in_order(ours, theirs_added):
        return ours
    if ours_added is not None and _contains_in_order(theirs, ours_added):
        return theirs
    if theirs_added is not None:
        return ours + theirs_added
    if ours_added is not None:
        return theirs + ours_added
    return None


def _contains_in_order(lines: list[str], wanted: list[str]) -> bool:
    found = iter(lines)
    return all(any(line == w for line in found) for w in wanted)


# -- front matter ------------------------------------------------------------


@dataclass(frozen=True)
class _Fields:
    merged: dict[str, object]  # each a value of ours or theirs
    conflicts: dict[str, tuple[object, object]]  # key -> (ours, theirs)
    hunks: tuple[Hunk, ...]
    settled: tuple[str, ...] = ()  # keys a strategy decided


def _merge_fields(
    names: Sequence[str],
    base: Block | Agent | None,
    ours: Block | Agent,
    theirs: Block | Agent,
    strategy: Strategy | None,
    show: Callable[[str, object], str],
) -> _Fields:
    merged: dict[str, object] = {}
    conflicts: dict[str, tuple[object, object]] = {}
    hunks = []
    settled = []
    for key in names:
        b = _NO_VALUE if base is None else _plain(getattr(base, key))
        o, t = _plain(getattr(ours, key)), _plain(getattr(theirs, key))
        if o == t or b == t:
            merged[key] = o
        elif b == o:
            merged[key] = t
        elif strategy is not None:
            merged[key] = o if strategy == "ours" else t
            settled.append(key)
        else:
            conflicts[key] = (o, t)
            shown_base = None if b is _NO_VALUE else show(key, b)
            hunks.append(Hunk(f"{key!r}", shown_base, show(key, o), show(key, t)))
            merged[key] = o
    return _Fields(merged, conflicts, tuple(hunks), tuple(settled))


def _render_fields(
    names: Sequence[str],
    fields: _Fields,
    show: Callable[[str, object], str],
    labels: tuple[str, str],
) -> str:
    out = []
    for key in names:
        if key in fields.conflicts:
            o, t = fields.conflicts[key]
            out += [f"<<<<<<< {labels[0]}\n", _line(show(key, o))]
            out += ["=======\n", _line(show(key, t)), f">>>>>>> {labels[1]}\n"]
        else:
            out.append(_line(show(key, fields.merged[key])))
    return "".join(out)


def _line(text: str) -> str:
    return text + "\n" if text else ""


def _yaml(path: str, optional: tuple[str, ...]) -> Callable[[str, object], str]:
    """One key's YAML line(s); keys in ``optional`` are left out when empty, as dump() does."""

    def show(key: str, value: object) -> str:
        if key in optional and not value:
            return ""
        return dump_mapping({key: value}, what=path).rstrip("\n")

    return show


# -- blocks and manifests ----------------------------------------------------


def _merge_block(
    path: str,
    b: Block | None,
    o: Block,
    t: Block,
    strategy: Strategy | None,
    labels: tuple[str, str],
    ops: tuple[Sequence[replay.Op], Sequence[replay.Op]] | None,
) -> Merged:
    show = _yaml(path, optional=("metadata",))
    fields = _merge_fields(BLOCK_FIELDS, b, o, t, strategy, show)
    replayed = replay.merge_values(o.value, t.value, *ops, prefer=strategy) if ops else None
    if replayed is not None and not replayed.failed:
        value = MergedText(replayed.value, replayed.value, ())
        settled = replayed.settled
    else:
        # Operations that cannot be replayed: the lines either side changed
        # show a person best what conflicts (and may still merge).
        base = b.value if b else None
        value = merge_lines(base, o.value, t.value, strategy, labels, "value line")
        settled = tuple(f"value line dropped: {line!r}" for line in value.dropped)
    settled += tuple(f"{key!r}: kept {strategy}'s" for key in fields.settled)
    hunks = fields.hunks + value.conflicts
    if not hunks:
        kept = fields.merged  # values of either side's block, so of the field's type
        merged = Block(
            o.id,
            label=checked(kept["label"], str, o.label),
            value=value.merged,
            description=checked(kept["description"], str, ""),
            limit=checked(kept["limit"], int, o.limit),
            read_only=checked(kept["read_only"], bool, False),
            metadata=checked(kept["metadata"], dict, {}),
        )
        data = blockfmt.dump(merged)
        return Merged(path, data, settled=tuple(f"{path}: {line}" for line in settled))
    body = value.marked + "\n" if value.marked else ""
    marked = "---\n" + _render_fields(BLOCK_FIELDS, fields, show, labels) + "---\n" + body
    return Merged(path, None, hunks, marked=marked.encode("utf-8"))


def _merge_manifest(
    path: str,
    b: Agent | None,
    o: Agent,
    t: Agent,
    strategy: Strategy | None,
    labels: tuple[str, str],
) -> Merged:
    show = _yaml(path, optional=("model",))
    fields = _merge_fields(AGENT_FIELDS, b, o, t, strategy, show)
    blocks = merge_sets(b.block_ids if b else (), o.block_ids, t.block_ids)
    if not fields.hunks:
        kept = fields.merged  # values of either side's manifest, so of the field's type
        agent = Agent(
            o.id,
            name=checked(kept["name"], str, o.name),
            description=checked(kept["description"], str, ""),
            model=checked(kept["model"], str, None),
            block_ids=blocks,
            metadata=checked(kept["metadata"], dict, {}),
        )
        return Merged(path, manifestfmt.dump(agent))
    names = (*AGENT_FIELDS[:3], "blocks", "metadata")
    fields.merged["blocks"] = list(blocks)
    marked = _render_fields(names, fields, show, labels)
    return Merged(path, None, fields.hunks, marked=marked.encode("utf-8"))


def merge_sets(base: Sequence[str], ours: Sequence[str], theirs: Sequence[str]) -> tuple[str, ...]:
    """Attachments merged as sets relative to ``base``: what either side added is
    added, what either side removed is removed; ours' order, then theirs' additions."""
    if tuple(ours) == tuple(base):
        return tuple(theirs)
    if tuple(theirs) == tuple(base):
        return tuple(ours)
    kept = [x for x in ours if x in theirs or x not in base]
    return (*kept, *(x for x in theirs if x not in base and x not in ours))


def _plain(value: object) -> object:
    # Parsed metadata compares by value; a Mapping proxy and a dict must be equal.
    return dict(value) if isinstance(value, Mapping) else value
