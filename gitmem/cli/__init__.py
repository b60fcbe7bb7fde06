"""The ``gitmem`` command. Each group lives in its own module; importing it registers it."""

from gitmem.cli import (
    agents,
    blocks,
    check,
    files,
    history,
    hooks,
    mcp,
    memory,
    setup,
    sync,
    watch,
)
from gitmem.cli.base import main

__all__ = [
    "agents",
    "blocks",
    "check",
    "files",
    "history",
    "hooks",
    "main",
    "mcp",
    "memory",
    "setup",
    "sync",
    "watch",
]
