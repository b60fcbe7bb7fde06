"""gitmem: shared memory blocks for AI agents, stored as files in a Git repository.

Everything a program needs is importable from here: ``Client`` and the types
its methods return or raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitmem.errors import (
    BadFileError,
    ConflictError,
    CorruptError,
    GitmemError,
    LimitExceededError,
    NotFoundError,
    ReadOnlyError,
    UnsupportedError,
    ValidationError,
)

if TYPE_CHECKING:
    from gitmem.client import Client
    from gitmem.git.remote import PushRejected
    from gitmem.git.state import GitState
    from gitmem.model.block import Block
    from gitmem.model.manifest import Agent
    from gitmem.ops.check import CheckReport, Problem
    from gitmem.ops.events import Event
    from gitmem.ops.history import BlameLine, BlockDiff, BlockRevision, HistoryEntry
    from gitmem.ops.memory import Memory
    from gitmem.ops.sync import MergeConflict, Pulled, Pushed, Synced
    from gitmem.ops.tokens import Token, Tokens
    from gitmem.ops.watch import CursorHeld, Watcher
    from gitmem.ops.worktree import FileStatus, GitAtWork, Outcome

# Loaded on first use: importing dulwich is most of a short command's start-up.
_LAZY = {
    "Agent": "gitmem.model.manifest",
    "BlameLine": "gitmem.ops.history",
    "Block": "gitmem.model.block",
    "BlockDiff": "gitmem.ops.history",
    "BlockRevision": "gitmem.ops.history",
    "CheckReport": "gitmem.ops.check",
    "Client": "gitmem.client",
    "CursorHeld": "gitmem.ops.watch",
    "Event": "gitmem.ops.events",
    "FileStatus": "gitmem.ops.worktree",
    "GitAtWork": "gitmem.ops.worktree",
    "GitState": "gitmem.git.state",
    "HistoryEntry": "gitmem.ops.history",
    "Memory": "gitmem.ops.memory",
    "MergeConflict": "gitmem.ops.sync",
    "Outcome": "gitmem.ops.worktree",
    "Problem": "gitmem.ops.check",
    "Pulled": "gitmem.ops.sync",
    "PushRejected": "gitmem.git.remote",
    "Pushed": "gitmem.ops.sync",
    "Synced": "gitmem.ops.sync",
    "Token": "gitmem.ops.tokens",
    "Tokens": "gitmem.ops.tokens",
    "Watcher": "gitmem.ops.watch",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gitmem' has no attribute {name!r}")


__all__ = [
    "Agent",
    "BadFileError",
    "BlameLine",
    "Block",
    "BlockDiff",
    "BlockRevision",
    "CheckReport",
    "Client",
    "ConflictError",
    "CorruptError",
    "CursorHeld",
    "Event",
    "FileStatus",
    "GitAtWork",
    "GitState",
    "GitmemError",
    "HistoryEntry",
    "LimitExceededError",
    "Memory",
    "MergeConflict",
    "NotFoundError",
    "Outcome",
    "Problem",
    "Pulled",
    "PushRejected",
    "Pushed",
    "ReadOnlyError",
    "Synced",
    "Token",
    "Tokens",
    "UnsupportedError",
    "ValidationError",
    "Watcher",
]
