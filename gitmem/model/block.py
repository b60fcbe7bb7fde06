"""Block files: Markdown with YAML front matter. Parse, dump and validate (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from gitmem.errors import LimitExceededError, ValidationError
from gitmem.model.ids import block_path, check_block_id
from gitmem.model.yamlmap import Located, checked, dump_mapping, load_mapping

DEFAULT_LIMIT = 20000
MAX_LABEL = 200
# A block is prompt text: a million characters is more than most context
# windows hold. The cap bounds what gitmem reads for any block file (4 UTF-8
# bytes a character, plus room for the front matter).
MAX_LIMIT = 1_000_000
MAX_FILE_BYTES = 4 * MAX_LIMIT + 1024 * 1024
# Characters a label may not have: control characters, line and paragraph
# separators, and lone surrogates (not Unicode text at all).
_NOT_IN_LABEL = ("Cc", "Cs", "Zl", "Zp")
KEYS = ("label", "description", "limit", "read_only", "metadata")
# A conflict nobody resolved: the marker lines git and gitmem's merge write
# ("<<<<<<< ours", "||||||| base", ">>>>>>> theirs"). A lone "=======" line is
# not one: Markdown underlines headings with it, and a merge that wrote it
# wrote "<<<<<<<" above it too.
_MARKER = re.compile(r"^(?:<{7}|\|{7}|>{7})(?: |$)", re.MULTILINE)
UNRESOLVED = "unresolved conflict (<<<<<<< ... >>>>>>> lines); resolve it first"


class Unset(Enum):
    """The type of ``UNSET``: a field not given to an update, where None can be a real value."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True)
class Block:
    """A memory block; ``version`` is the Git blob id of its file, None before it is written."""

    id: str
    label: str
    value: str = ""
    description: str = ""
    limit: int = DEFAULT_LIMIT
    read_only: bool = False
    metadata: Mapping[str, object] = field(default_factory=dict)
    version: str | None = None

    @property
    def path(self) -> str:
        return block_path(self.id)


def check(block: Block) -> Block:
    """Raise ValidationError naming the first thing wrong with ``block``; return it if fine."""
    check_block_id(block.id)
    for key in (*KEYS, "value"):
        problem = field_problem(key, getattr(block, key))
        if problem:
            raise ValidationError(f"block {block.id!r}: {problem}")
    try:
        check_limit(block.value, block.limit)
    except LimitExceededError as e:
        raise LimitExceededError(f"block {block.id!r}: {e}") from None
    return block


def from_fields(block_id: str, fields: Mapping[str, object], *, default_limit: int) -> Block:
    """A block from fields given as data (a caller's mapping of front-matter keys and
    ``value``; missing or None: their defaults), checked as ``check`` checks a block."""
    check_block_id(block_id)
    limit = fields.get("limit")
    given = {
        "label": fields.get("label"),
        "description": fields.get("description") or "",
        "limit": default_limit if limit is None else limit,
        "read_only": fields.get("read_only", False),
        "metadata": fields.get("metadata") or {},
        "value": fields.get("value") or "",
    }
    for key, value in given.items():
        problem = field_problem(key, value)
        if problem:
            raise ValidationError(f"block {block_id!r}: {problem}")
    metadata = given["metadata"]
    return check(
        Block(
            id=block_id,
            label=checked(given["label"], str, ""),
            value=checked(given["value"], str, ""),
            description=checked(given["description"], str, ""),
            limit=checked(given["limit"], int, default_limit),
            read_only=checked(given["read_only"], bool, False),
            metadata=metadata if isinstance(metadata, Mapping) else {},
        )
    )


def check_limit(value: str, limit: int) -> None:
    if len(value) > limit:
        raise LimitExceededError(
            f"value is too long: {len(value)} characters requested, {limit} allowed"
        )


def field_problem(key: str, value: object) -> str | None:
    """What is wrong with ``value`` for front-matter ``key``, or None."""
    if key == "label":
        if not isinstance(value, str) or not value.strip():
            return "'label' must be non-empty text"
        if len(value) > MAX_LABEL:
            return f"'label' is {len(value)} characters, over the maximum of {MAX_LABEL}"
        if any(unicodedata.category(c) in _NOT_IN_LABEL for c in value):
            return "'label' must not contain control characters (newlines, tabs, ...)"
    elif key == "value":
        if not isinstance(value, str):
            return f"the value must be text, not {_kind(value)}"
        if "\0" in value:
            return "the value must not contain NUL characters"
        if any("\ud800" <= c <= "\udfff" for c in value):
            return "the value is not valid Unicode text (it has a lone surrogate)"
        line = marker_line(value)
        if line is not None:
            return f"value line {line}: {UNRESOLVED}"
    elif key == "description":
        if value is not None and not isinstance(value, str):
            return f"'description' must be text, not {_kind(value)}"
    elif key == "limit":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return f"'limit' must be a positive whole number, not {value!r}"
        if value > MAX_LIMIT:
            return f"'limit' is {value}, over the maximum of {MAX_LIMIT} characters"
    elif key == "read_only":
        if not isinstance(value, bool):
            return f"'read_only' must be true or false, not {value!r}"
    elif key == "metadata" and value is not None and not isinstance(value, Mapping):
        return f"'metadata' must be a mapping of keys to values, not {_kind(value)}"
    return None


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def parse(data: bytes, *, block_id: str, path: str, default_limit: int = DEFAULT_LIMIT) -> Block:
    """Read a block file; every error is one line ``path:line: message``."""
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError(
            f"{path}:1: the file is {len(data)} bytes, more than any block may be "
            f"({MAX_FILE_BYTES})"
        )
    try:
        block_id = check_block_id(block_id)
    except ValidationError as e:
        raise ValidationError(f"{path}:1: {e}") from None
    text = decode(data, path)
    if text.startswith("---\r\n"):
        text = text.replace("\r\n", "\n")
    check_markers(text, path)
    if not text.startswith("---\n"):
        raise ValidationError(
            f"{path}:1: missing front matter: the file must start with a '---' line"
        )
    end = text.find("\n---\n", 3)
    if end < 0:
        if not text.endswith("\n---"):
            raise ValidationError(f"{path}:1: front matter is not closed by a '---' line")
        end = len(text) - 4
    front = text[4 : end + 1] if end > 3 else ""
    value = text[end + 5 :]
    if value.endswith("\n"):
        value = value[:-1]
    fm = _front_matter(front, path)
    value_line = front.count("\n") + 3
    limit = fm.get("limit", int, default_limit)
    try:
        check_limit(value, limit)
    except LimitExceededError as e:
        raise LimitExceededError(f"{path}:{value_line}: {e}") from None
    return _block(block_id, fm, value, limit)


def _block(block_id: str, fm: Located, value: str, limit: int) -> Block:
    return Block(
        id=block_id,
        label=fm.get("label", str, ""),
        value=value,
        description=fm.get("description", str, ""),
        limit=limit,
        read_only=fm.get("read_only", bool, False),
        metadata=fm.get("metadata", dict, {}),
    )


def _front_matter(text: str, path: str) -> Located:
    """The front matter's keys, each checked; errors name the file line."""
    fm = load_mapping(text, path=path, first_line=2, allowed=KEYS)
    if "label" not in fm.values:
        raise ValidationError(f"{path}:1: missing 'label' in the front matter")
    for key, got in fm.values.items():
        problem = field_problem(key, got)
        if problem:
            raise ValidationError(f"{path}:{fm.line(key)}: {problem}")
    return fm


def dump(block: Block) -> bytes:
    """The file text of ``block``: keys in fixed order, one ``\\n`` after a non-empty value.

    Raises ValidationError rather than return text that ``parse`` would refuse.
    """
    problem = field_problem("value", block.value)
    if problem:
        raise ValidationError(f"block {block.id!r}: {problem}")
    front: dict[str, object] = {
        "label": block.label,
        "description": block.description,
        "limit": block.limit,
        "read_only": block.read_only,
    }
    if block.metadata:
        front["metadata"] = dict(block.metadata)
    yaml_text = dump_mapping(front, what=f"block {block.id!r}")
    # Free-form metadata can still hold what YAML writes but cannot read back.
    # (Only the front matter: the limit is the caller's rule, e.g. a merge's.)
    _front_matter(yaml_text, block.path)
    text = "---\n" + yaml_text + "---\n"
    if block.value:
        text += block.value + "\n"
    return text.encode("utf-8")


def decode(data: bytes, path: str) -> str:
    """UTF-8 text of a file without a byte-order mark, or a ValidationError naming the line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValidationError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x})"
        ) from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise ValidationError(f"{path}:{line}: contains a NUL byte")
    return text.removeprefix("\ufeff")


def value_lines(value: str) -> list[str]:
    """A value's lines, as memory tools number them: an empty value has none, so a
    first insert does not start with a blank line."""
    return value.split("\n") if value else []


def value_start(lines: Sequence[bytes]) -> int:
    """Where a block file's value begins among its lines: after the '---' line that
    closes the front matter, found the way ``parse`` finds it."""
    for i in range(1, len(lines)):
        if lines[i].rstrip(b"\r\n") == b"---":
            return i + 1
    return len(lines)


def marker_line(text: str) -> int | None:
    """The line of the first conflict marker in ``text``, if it has one."""
    found = _MARKER.search(text)
    return None if found is None else text.count("\n", 0, found.start()) + 1


def check_markers(text: str, path: str) -> None:
    """Refuse a file with a conflict a person has not resolved, naming its line."""
    line = marker_line(text)
    if line is not None:
        raise ValidationError(f"{path}:{line}: {UNRESOLVED}")
