"""gitmem: shared memory blocks for AI agents, stored as files in a Git repository."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitmem.errors import (
    BadFileError,
    ConflictError,
    GitmemError,
    LimitExceededError,
    NotFoundError,
    ReadOnlyError,
    ValidationError,
)

if TYPE_CHECKING:
    from gitmem.client import Client
    from gitmem.model.block import Block
    from gitmem.model.manifest import Agent
    from gitmem.ops.memory import Memory

# Loaded on first use: importing dulwich is most of a short command's start-up.
_LAZY = {
    "Agent": "gitmem.model.manifest",
    "Block": "gitmem.model.block",
    "Client": "gitmem.client",
    "Memory": "gitmem.ops.memory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gitmem' has no attribute {name!r}")


__all__ = [
    "Agent",
    "BadFileError",
    "Block",
    "Client",
    "ConflictError",
    "GitmemError",
    "LimitExceededError",
    "Memory",
    "NotFoundError",
    "ReadOnlyError",
    "ValidationError",
]
