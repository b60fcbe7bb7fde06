"""The ``gitmem`` command. Each group lives in its own module; importing it registers it."""

from gitmem.cli import agents, blocks, check, memory, setup
from gitmem.cli.base import main

__all__ = ["agents", "blocks", "check", "main", "memory", "setup"]
