"""What the server accepts: Letta's field names and types, checked before anything is written.

A field gitmem acts on is type-checked; a field Letta has for running a model
(gitmem stores memory and never calls one) is accepted and has no effect; a
Letta field gitmem has no place for yet (tags, templates, projects, ...) is
refused unless it is empty, so nothing a caller sends is silently dropped; any
other field is refused as Letta refuses it (422, ``extra_forbidden``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict, cast

from gitmem.errors import ValidationError

Json = dict[str, object]  # a JSON object as json.loads makes it

# What FastAPI (Letta's server) says for each wrong type, so a Letta caller's
# error handling sees the same ``type`` and ``msg``.
_KINDS: dict[str, tuple[str, str]] = {
    "str": ("string_type", "Input should be a valid string"),
    "int": ("int_type", "Input should be a valid integer"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "strs": ("list_type", "Input should be a valid list of strings"),
    "objects": ("list_type", "Input should be a valid list of objects"),
}


class Invalid(ValidationError):
    """A request whose fields have the wrong names or types (HTTP 422, FastAPI's shape)."""

    def __init__(self, errors: list[Json]) -> None:
        super().__init__("; ".join(f"{e['loc']}: {e['msg']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Field:
    kind: str
    required: bool = False
    nullable: bool = True


@dataclass(frozen=True)
class Schema:
    """A request body: ``fields`` gitmem acts on, Letta's ``ignored`` model
    settings, and Letta's ``unsupported`` fields (refused unless empty)."""

    fields: Mapping[str, Field]
    ignored: frozenset[str] = frozenset()
    unsupported: frozenset[str] = frozenset()
    nested: Mapping[str, Schema] = field(default_factory=dict)

    def check(self, body: object, loc: tuple[str | int, ...] = ("body",)) -> Json:
        """The fields gitmem acts on, as given; Invalid or ValidationError if the body is wrong."""
        errors: list[Json] = []
        given = self._check(body, loc, errors)
        if errors:
            raise Invalid(errors)
        return given

    def _check(self, body: object, loc: tuple[str | int, ...], errors: list[Json]) -> Json:
        if not isinstance(body, dict):
            errors.append(
                _error(
                    "model_attributes_type",
                    loc,
                    "Input should be a valid dictionary or object to extract fields from",
                )
            )
            return {}
        given: Json = {}
        for name, spec in self.fields.items():
            if name not in body:
                if spec.required:
                    errors.append(_error("missing", (*loc, name), "Field required"))
                continue
            value = body[name]
            if value is None and spec.nullable and not spec.required:
                given[name] = None
            elif not _is(spec.kind, value):
                kind, msg = _KINDS[spec.kind]
                errors.append(_error(kind, (*loc, name), msg))
            elif name in self.nested and isinstance(value, list):
                given[name] = [
                    self.nested[name]._check(item, (*loc, name, i), errors)
                    for i, item in enumerate(value)
                ]
            else:
                given[name] = value
        for name, value in body.items():
            if name in self.fields or name in self.ignored:
                continue
            if name in self.unsupported:
                if value not in (None, False, "", [], {}):
                    where = ".".join(str(p) for p in (*loc[1:], name))
                    raise ValidationError(f"gitmem does not support Letta's '{where}' (yet)")
                continue
            errors.append(_error("extra_forbidden", (*loc, name), "Extra inputs are not permitted"))
        return given


def _error(kind: str, loc: tuple[str | int, ...], msg: str) -> Json:
    return {"type": kind, "loc": list(loc), "msg": msg}


def _is(kind: str, value: object) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)  # objects


# Letta's block fields that gitmem has no place for yet.
_BLOCK_LETTA_ONLY = frozenset(
    {
        "base_template_id",
        "deployment_id",
        "entity_id",
        "hidden",
        "is_template",
        "preserve_on_migration",
        "project_id",
        "tags",
        "template_id",
        "template_name",
    }
)
_BLOCK_FIELDS = {
    "description": Field("str"),
    "limit": Field("int"),
    "metadata": Field("object"),
    "read_only": Field("bool", nullable=False),
}

BLOCK_CREATE = Schema(
    {
        "label": Field("str", required=True),
        "value": Field("str", required=True),
        **_BLOCK_FIELDS,
        "id": Field("str"),  # gitmem: an explicit block id
    },
    unsupported=_BLOCK_LETTA_ONLY,
)
BLOCK_UPDATE = Schema(
    {
        "label": Field("str"),
        "value": Field("str"),
        **_BLOCK_FIELDS,
        "if_version": Field("str"),  # gitmem: compare-and-swap on the block's version
    },
    unsupported=_BLOCK_LETTA_ONLY,
)
AGENT_CREATE = Schema(
    {
        "name": Field("str", nullable=False),
        "description": Field("str"),
        "model": Field("str"),
        "metadata": Field("object"),
        "memory_blocks": Field("objects"),
        "block_ids": Field("strs"),
    },
    # How Letta runs the agent's model: gitmem keeps `model` and calls nothing.
    ignored=frozenset(
        {
            "agent_type",
            "compaction_settings",
            "context_window_limit",
            "embedding",
            "embedding_chunk_size",
            "embedding_config",
            "enable_reasoner",
            "enable_sleeptime",
            "include_base_tool_rules",
            "include_base_tools",
            "include_default_source",
            "llm_config",
            "max_reasoning_tokens",
            "max_tokens",
            "message_buffer_autoclear",
            "model_settings",
            "parallel_tool_calls",
            "reasoning",
            "response_format",
            "system",
            "timezone",
            "tool_ids",
            "tool_rules",
            "tools",
        }
    ),
    unsupported=frozenset(
        {
            "base_template_id",
            "folder_ids",
            "from_template",
            "hidden",
            "identity_ids",
            "initial_message_sequence",
            "max_files_open",
            "memory_variables",
            "per_file_view_window_char_limit",
            "project",
            "project_id",
            "secrets",
            "source_ids",
            "tags",
            "template",
            "template_id",
            "tool_exec_environment_variables",
        }
    ),
    nested={
        "memory_blocks": Schema(
            {k: v for k, v in BLOCK_CREATE.fields.items() if k != "id"},
            unsupported=_BLOCK_LETTA_ONLY,
        )
    },
)
TOOL_RUN = Schema({"args": Field("object")})


class _Block(TypedDict):
    label: str
    value: str


class BlockCreate(_Block, total=False):
    """A new block in a request, as BLOCK_CREATE checked it."""

    description: str | None
    limit: int | None
    metadata: Json | None
    read_only: bool
    id: str | None


class BlockUpdate(TypedDict, total=False):
    """A block's changes in a request, as BLOCK_UPDATE checked them (None: unchanged)."""

    label: str | None
    value: str | None
    description: str | None
    limit: int | None
    metadata: Json | None
    read_only: bool
    if_version: str | None


class AgentFields(TypedDict, total=False):
    """An agent in a request, as AGENT_CREATE checked it."""

    name: str
    description: str | None
    model: str | None
    metadata: Json | None
    memory_blocks: list[BlockCreate] | None
    block_ids: list[str] | None


def block_create(body: object) -> BlockCreate:
    # The casts say what check() made sure of: each field's type.
    return cast(BlockCreate, BLOCK_CREATE.check(body))


def block_update(body: object) -> BlockUpdate:
    return cast(BlockUpdate, BLOCK_UPDATE.check(body))


def agent_create(body: object) -> AgentFields:
    return cast(AgentFields, AGENT_CREATE.check(body))


def tool_args(body: object) -> Json:
    """The ``args`` of a tools.run request ({} if none)."""
    args = TOOL_RUN.check(body).get("args")
    return cast(Json, args) if args is not None else {}


@dataclass(frozen=True)
class Page:
    """Letta's list parameters: ``after``/``before`` are ids, ``order`` asc or desc."""

    limit: int | None = None
    after: str | None = None
    before: str | None = None
    descending: bool = False


# Letta's list filters gitmem cannot apply yet: refused rather than ignored, so
# a filtered list never silently returns everything.
LIST_FILTERS = frozenset(
    {
        "base_template_id",
        "connected_to_agents_count_eq",
        "connected_to_agents_count_gt",
        "connected_to_agents_count_lt",
        "created_by_id",
        "description_search",
        "identifier_keys",
        "identity_id",
        "label_search",
        "last_stop_reason",
        "project_id",
        "query_text",
        "tags",
        "template_id",
        "value_search",
    }
)


def page(query: Mapping[str, str]) -> Page:
    """The paging parameters of a list request (Invalid for a bad ``limit`` or ``order``)."""
    for name in sorted(LIST_FILTERS & set(query)):
        if query[name]:
            raise ValidationError(f"gitmem does not support Letta's list filter '{name}' (yet)")
    if query.get("templates_only") == "true":
        raise ValidationError("gitmem has no block templates")
    limit = None
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            raise Invalid(
                [
                    _error(
                        "int_parsing",
                        ("query", "limit"),
                        "Input should be a valid integer, unable to parse string as an integer",
                    )
                ]
            ) from None
        if limit < 0:
            raise Invalid(
                [_error("greater_than_equal", ("query", "limit"), "Input should be >= 0")]
            )
    order = query.get("order", "asc" if query.get("ascending", "true") == "true" else "desc")
    if order not in ("asc", "desc"):
        raise Invalid(
            [_error("literal_error", ("query", "order"), "Input should be 'asc' or 'desc'")]
        )
    return Page(limit, query.get("after") or None, query.get("before") or None, order == "desc")
