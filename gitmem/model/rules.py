"""The one rule set for a store's files, each by itself: what a path may be
(``classify``), schema, id, limit and conflict markers (``parse_file``), and
what a manifest's attachments need (``attachment_problems``).

``ops/validate.py`` applies them to a change of a whole store; every problem
is one line ``path:line: message``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

from gitmem.errors import ValidationError
from gitmem.model import block as blockfmt
from gitmem.model import manifest as manifestfmt
from gitmem.model.block import Block
from gitmem.model.ids import AGENT_FILES, BLOCK_FILES, BLOCKS, DIRS, agent_id_of, block_id_of
from gitmem.model.manifest import Agent
from gitmem.model.settings import SETTINGS, parse_settings

GITATTRIBUTES = ".gitattributes"
# The only attributes a store may set: any other could switch off the block
# merge for plain git (`* merge=union`, `-merge`), run a filter or re-encode files.
OWN_ATTRIBUTES = (f"{BLOCK_FILES} merge=gitmem", f"{AGENT_FILES} merge=gitmem")
ATTRIBUTES_CONTENT = "".join(f"{line}\n" for line in OWN_ATTRIBUTES)  # as init writes it
MAX_ATTRIBUTES_BYTES = 4096  # gitmem's own take 55; room for comments
GITIGNORE = ".gitignore"  # written by init; any content is harmless
Files = Mapping[str, bytes | None]
NOT_STORE_FILE = (
    "not a block or an agent manifest "
    "(a store holds blocks/<id>.md, agents/<id>.yaml and gitmem.yaml)"
)
# A block or manifest lookup: the block, why its file is not valid, or None: no file.
Lookup = Callable[[str], "Block | str | None"]


def classify(path: str) -> tuple[str, str]:
    """What ``path`` is in a store: ("block" | "agent", its id), ("settings" |
    "attributes" | "ignore", ""), or ("stray", why it does not belong)."""
    top, _, rest = path.partition("/")
    if path == SETTINGS:
        return "settings", ""
    if path == GITATTRIBUTES:
        return "attributes", ""
    if path == GITIGNORE:
        return "ignore", ""
    if top not in DIRS:
        return "stray", NOT_STORE_FILE
    if not rest:
        return "stray", f"should be a directory of {'blocks' if top == BLOCKS else 'manifests'}"
    block_id, agent_id = block_id_of(path), agent_id_of(path)
    if block_id is not None:
        return "block", block_id
    if agent_id is not None:
        return "agent", agent_id
    if top == BLOCKS:
        return "stray", "not a block: blocks/ holds only <block-id>.md files"
    return "stray", "not an agent manifest: agents/ holds only <agent-id>.yaml files"


def parse_file(path: str, data: bytes, default_limit: int) -> Block | Agent | None:
    """Check one store file by itself: a block or a manifest (returned parsed),
    the settings, .gitattributes or .gitignore (None). Every rule that needs no other file
    is here, with the line it names: every path that reads or writes files uses it."""
    role, name = classify(path)
    if role == "block":
        return blockfmt.parse(data, block_id=name, path=path, default_limit=default_limit)
    if role == "agent":
        return manifestfmt.parse(data, agent_id=name, path=path)
    if role == "settings":
        parse_settings(data)
    elif role == "attributes":
        _check_attributes(data)
    elif role == "stray":
        raise ValidationError(f"{path}:1: {name}")
    return None


def attachment_problems(
    agent: Agent, data: bytes, lookup: Lookup
) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, message, block ids) for each attachment of ``agent`` (its manifest
    is ``data``) that names no block, or a second block with one label. A block
    whose file is not valid is that file's problem, not the manifest's."""
    labels: dict[str, str] = {}
    for block_id in agent.block_ids:
        found = lookup(block_id)
        if found is None:
            yield _item_line(data, block_id), f"block {block_id!r} does not exist", (block_id,)
        elif isinstance(found, str):
            continue
        elif found.label in labels:
            first = labels[found.label]
            yield (
                _item_line(data, block_id),
                f"blocks {first!r} and {block_id!r} are both labelled {found.label!r}; "
                "labels must be unique per agent",
                (first, block_id),
            )
        else:
            labels[found.label] = block_id


def _check_attributes(data: bytes) -> None:
    """``.gitattributes`` sets gitmem's own attributes and nothing else."""
    if len(data) > MAX_ATTRIBUTES_BYTES:
        raise ValidationError(
            f"{GITATTRIBUTES}:1: {len(data)} bytes, more than the {MAX_ATTRIBUTES_BYTES} "
            "allowed; it may only set gitmem's own attributes"
        )
    for number, line in enumerate(blockfmt.decode(data, GITATTRIBUTES).splitlines(), 1):
        words = " ".join(line.split())
        if words and not words.startswith("#") and words not in OWN_ATTRIBUTES:
            raise ValidationError(
                f"{GITATTRIBUTES}:{number}: {words!r} is not one of gitmem's own attributes "
                f"({'; '.join(OWN_ATTRIBUTES)}), the only ones a store may set"
            )


def _item_line(data: bytes, item: str) -> int:
    """The line of ``- item`` in a manifest's block list (of ``blocks:`` if it is
    written another way, such as ``blocks: [a, b]``)."""
    pattern = re.compile(rf"\s*-\s*(['\"]?){re.escape(item)}\1\s*(#.*)?")
    lines = data.decode("utf-8", "replace").split("\n")
    found = (n for n, line in enumerate(lines, 1) if pattern.fullmatch(line))
    return next(found, None) or key_line(data, "blocks")


def key_line(data: bytes | None, key: str) -> int:
    """The line of a top-level ``key:`` in a file that parsed, for messages."""
    lines = (data or b"").decode("utf-8", errors="replace").split("\n")
    return next((i for i, line in enumerate(lines, 1) if line.startswith(f"{key}:")), 1)
