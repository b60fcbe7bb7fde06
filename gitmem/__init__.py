"""gitmem: shared memory blocks for AI agents, stored as files in a Git repository."""

from gitmem.block import Block
from gitmem.client import Client
from gitmem.errors import (
    ConflictError,
    GitmemError,
    LimitExceededError,
    NotFoundError,
    ReadOnlyError,
    ValidationError,
)
from gitmem.manifest import Agent
from gitmem.tools import Memory

__all__ = [
    "Agent",
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
