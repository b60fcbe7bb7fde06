"""The YAML both file formats share: a mapping read with the line of each key, and
the dumper that writes keys in order and multi-line text as readable blocks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from gitmem.errors import ValidationError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Front matter is a handful of keys; a cap keeps hostile YAML (huge or deeply
# nested documents) from costing memory or recursion.
MAX_YAML = 64 * 1024


@dataclass(frozen=True)
class Located:
    """A YAML mapping's values with the 1-based file line of each key."""

    values: dict[str, Any]
    lines: dict[str, int]
    first_line: int

    def line(self, key: str) -> int:
        return self.lines.get(key, self.first_line)


def load_mapping(text: str, *, path: str, first_line: int, allowed: tuple[str, ...]) -> Located:
    """Parse ``text`` as a YAML mapping whose keys must be in ``allowed``.

    ``first_line`` is the file line that ``text`` starts on, so that every
    error names the line a person sees in an editor.
    """
    if len(text) > MAX_YAML:
        raise ValidationError(f"{path}:{first_line}: YAML is larger than {MAX_YAML} bytes")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Located({}, {}, first_line)
        if not isinstance(node, yaml.MappingNode):
            line = first_line + node.start_mark.line
            raise ValidationError(f"{path}:{line}: expected 'key: value' lines, not a {node.id}")
        lines = dict(_key_lines(node, path=path, first_line=first_line, allowed=allowed))
        values = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        if e.context_mark and mark and mark.line >= text.count("\n"):
            mark = e.context_mark  # found at the end: point at what was left open
        line = first_line + (mark.line if mark else 0)
        raise ValidationError(f"{path}:{line}: invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ValidationError(f"{path}:{first_line}: invalid YAML: {e}") from None
    except RecursionError:
        raise ValidationError(f"{path}:{first_line}: YAML is nested too deeply") from None
    finally:
        loader.dispose()
    return Located(values, lines, first_line)


def _key_lines(
    node: yaml.MappingNode, *, path: str, first_line: int, allowed: tuple[str, ...]
) -> Iterator[tuple[str, int]]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        line = first_line + key_node.start_mark.line
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "<non-text key>"
        if key not in allowed:
            raise ValidationError(
                f"{path}:{line}: unknown key {key!r} (allowed: {', '.join(allowed)})"
            )
        if key in seen:
            raise ValidationError(f"{path}:{line}: duplicate key {key!r}")
        seen.add(key)
        yield key, line


class _Dumper(_BaseDumper):  # type: ignore[misc]
    pass


def _represent_str(dumper: Any, text: str) -> Any:
    # Multi-line text as a literal block keeps descriptions readable in diffs;
    # PyYAML falls back to a quoted scalar when a block cannot hold the text.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_mapping(values: Mapping[str, Any], *, what: str) -> str:
    """YAML text of ``values``, keys in the given order."""
    try:
        text: str = yaml.dump(
            dict(values), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**30
        )
    except yaml.YAMLError as e:
        raise ValidationError(f"{what} cannot be written as YAML: {e}") from None
    return text
