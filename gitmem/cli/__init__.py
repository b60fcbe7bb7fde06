"""The ``gitmem`` command. Each group lives in its own module; importing it registers it."""

from gitmem.cli import agents, blocks, check, files, history, hooks, memory, setup, sync, watch
from gitmem.cli.base import main

__all__ = [
    "agents",
    "blocks",
    "check",
    "files",
    "history",
    "hooks",
    "main",
    "memory",
    "setup",
    "sync",
    "watch",
]
