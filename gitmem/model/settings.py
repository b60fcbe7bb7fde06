"""``gitmem.yaml``: the store's format, default character limit and branch."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitmem.errors import ValidationError
from gitmem.model import block as blockfmt
from gitmem.model.yamlmap import dump_mapping, load_mapping

SETTINGS = "gitmem.yaml"
FORMAT = 1
_BRANCH_CHARS = re.compile(r"[A-Za-z0-9._/-]{1,200}")


@dataclass(frozen=True)
class Settings:
    """``gitmem.yaml``. ``branch``: the store's branch, which agents read and write
    whatever HEAD says (None in stores made before it was recorded)."""

    format: int = FORMAT
    default_limit: int = blockfmt.DEFAULT_LIMIT
    branch: str | None = None

    def dump(self) -> bytes:
        values: dict[str, object] = {"format": self.format, "default_limit": self.default_limit}
        if self.branch is not None:
            values["branch"] = self.branch
        return dump_mapping(values, what=SETTINGS).encode()


def parse_settings(data: bytes, *, branch: str | None = None) -> Settings:
    """``gitmem.yaml`` read and checked; ``branch``: the store's, which a change
    may not move (agents would go on writing to another branch)."""
    text = blockfmt.decode(data, SETTINGS)
    blockfmt.check_markers(text, SETTINGS)
    fm = load_mapping(
        text,
        path=SETTINGS,
        first_line=1,
        allowed=("format", "default_limit", "branch"),
    )
    for key, value in fm.values.items():
        problem = _setting_problem(key, value)
        if problem:
            raise ValidationError(f"{SETTINGS}:{fm.line(key)}: {problem}")
    settings = Settings(
        format=fm.get("format", int, FORMAT),
        default_limit=fm.get("default_limit", int, blockfmt.DEFAULT_LIMIT),
        branch=fm.get("branch", str, None),
    )
    if branch is not None and settings.branch != branch:
        raise ValidationError(
            f"{SETTINGS}:{fm.line('branch')}: the store's branch is {branch} and stays so "
            f"(agents write there); keep 'branch: {branch}'"
        )
    if settings.format > FORMAT:
        raise ValidationError(
            f"{SETTINGS}:{fm.line('format')}: store format {settings.format} is newer than "
            f"this gitmem understands ({FORMAT}); upgrade gitmem"
        )
    return settings


def _setting_problem(key: str, value: object) -> str | None:
    if key == "branch":
        if isinstance(value, str) and _is_branch_name(value):
            return None
        return f"'branch' must be a Git branch name such as main, not {value!r}"
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return f"{key!r} must be a positive number"
    if key == "default_limit" and value > blockfmt.MAX_LIMIT:
        # A block's limit has this bound: a default above it would refuse every new block.
        return f"'default_limit' is {value}, over the maximum of {blockfmt.MAX_LIMIT} characters"
    return None


def _is_branch_name(name: str) -> bool:
    """A name git takes for a branch (``git check-ref-format``), in plain characters."""
    return bool(
        _BRANCH_CHARS.fullmatch(name)
        and not name.startswith("-")
        and ".." not in name
        and all(
            p and not p.startswith(".") and not p.endswith((".", ".lock")) for p in name.split("/")
        )
    )
