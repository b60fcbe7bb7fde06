"""The YAML both file formats share: a mapping read with the line of each key, and
the dumper that writes keys in order and multi-line text as readable blocks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, TypeVar

import yaml

from gitmem.errors import ValidationError

if TYPE_CHECKING:
    # Checked as PyYAML's Python classes: libyaml's, used when PyYAML has them
    # (several times faster), have the same interface.
    _BaseLoader = yaml.SafeLoader
    _BaseDumper = yaml.SafeDumper
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    _BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

T = TypeVar("T")
D = TypeVar("D")

# Front matter is a handful of keys; a cap keeps hostile YAML (huge or deeply
# nested documents) from costing memory or recursion.
MAX_YAML = 64 * 1024


class _Loader(_BaseLoader):
    pass


def _refuse_tag(loader: _Loader, node: yaml.Node) -> NoReturn:
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag {node.tag} is not allowed", node.start_mark
    )


# Ordered maps and pairs load as lists of tuples, which write back as lists of
# lists: refused, so that everything read writes back as it was. A lone '='
# is text (PyYAML has a tag for it but no safe constructor).
_Loader.add_constructor("tag:yaml.org,2002:omap", _refuse_tag)
_Loader.add_constructor("tag:yaml.org,2002:pairs", _refuse_tag)
# (types-PyYAML binds the constructor's first argument to loader classes, which
# leaves out the constructors PyYAML's own classes define.)
_Loader.add_constructor(
    "tag:yaml.org,2002:value",
    yaml.SafeLoader.construct_yaml_str,  # type: ignore[type-var]
)


@dataclass(frozen=True)
class Located:
    """A YAML mapping's values with the 1-based file line of each key."""

    values: dict[str, object]
    lines: dict[str, int]
    first_line: int

    def line(self, key: str) -> int:
        return self.lines.get(key, self.first_line)

    def get(self, key: str, kind: type[T], default: D) -> T | D:
        """``key``'s value, which the format's checks found to be a ``kind``;
        ``default`` when missing or null."""
        return checked(self.values.get(key), kind, default)


def checked(value: object, kind: type[T], default: D) -> T | D:
    """``value``, checked already to be a ``kind`` (or None: ``default``), as the type
    checker can see it. Anything else is a bug: the check was left out."""
    if value is None:
        return default
    if not isinstance(value, kind):
        raise TypeError(f"{value!r} is not {kind.__name__}: check it before reading it")
    return value


def load_mapping(text: str, *, path: str, first_line: int, allowed: tuple[str, ...]) -> Located:
    """Parse ``text`` as a YAML mapping whose keys must be in ``allowed``.

    ``first_line`` is the file line that ``text`` starts on, so that every
    error names the line a person sees in an editor.
    """
    if len(text) > MAX_YAML:
        raise ValidationError(f"{path}:{first_line}: YAML is longer than {MAX_YAML} characters")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Located({}, {}, first_line)
        if not isinstance(node, yaml.MappingNode):
            line = first_line + node.start_mark.line
            kind = "sequence" if isinstance(node, yaml.SequenceNode) else "scalar"
            raise ValidationError(f"{path}:{line}: expected 'key: value' lines, not a {kind}")
        lines = dict(_key_lines(node, path=path, first_line=first_line, allowed=allowed))
        _check_nodes(node, path=path, first_line=first_line)
        values = loader.construct_document(node)
        assert isinstance(values, dict)  # a mapping node (checked above) makes a dict
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        if e.context_mark and mark and mark.line >= text.count("\n"):
            mark = e.context_mark  # found at the end: point at what was left open
        line = first_line + (mark.line if mark else 0)
        raise ValidationError(f"{path}:{line}: invalid YAML: {e.problem or e.context}") from None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow
        line = first_line + text[: e.position].count("\n")
        problem = f"{e.reason} (character {e.character:#06x})"
        raise ValidationError(f"{path}:{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        problem = str(e).split("\n")[0]
        raise ValidationError(f"{path}:{first_line}: invalid YAML: {problem}") from None
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


def _check_nodes(root: yaml.Node, *, path: str, first_line: int) -> None:
    """Refuse aliases and text that is not valid Unicode, anywhere in the document.

    An alias makes one value appear in many places: a few lines can expand to
    billions of values (or a loop) when written out again, e.g. as JSON.
    """
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        line = first_line + node.start_mark.line
        if id(node) in seen:
            raise ValidationError(f"{path}:{line}: YAML aliases ('*name') are not allowed")
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            todo.extend(item for pair in node.value for item in pair)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif any("\ud800" <= c <= "\udfff" for c in node.value):
            # libyaml refuses a '\ud800' escape itself; PyYAML's pure-Python reader does not.
            raise ValidationError(
                f"{path}:{line}: text that is not valid Unicode (a lone surrogate)"
            )


class _Dumper(_BaseDumper):
    def ignore_aliases(self, data: object) -> bool:
        # The reader refuses aliases, so a value used twice is written twice.
        return True


def _represent_str(dumper: _Dumper, text: str) -> yaml.ScalarNode:
    # Multi-line text as a literal block keeps descriptions readable in diffs;
    # PyYAML falls back to a quoted scalar when a block cannot hold the text.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_mapping(values: Mapping[str, object], *, what: str) -> str:
    """YAML text of ``values``, keys in the given order."""
    try:
        text: str = yaml.dump(
            dict(values), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**30
        )
    except (yaml.YAMLError, UnicodeEncodeError) as e:
        raise ValidationError(f"{what} cannot be written as YAML: {e}") from None
    except RecursionError:
        raise ValidationError(f"{what} cannot be written as YAML: nested too deeply") from None
    if len(text) > MAX_YAML:
        raise ValidationError(
            f"{what}: its YAML would be {len(text)} characters, over the maximum of {MAX_YAML}"
        )
    return text
