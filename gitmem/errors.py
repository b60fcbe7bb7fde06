"""The errors gitmem raises; ``str()`` of each is the message a user or agent sees."""

from __future__ import annotations


class GitmemError(Exception):
    """Base of every error gitmem raises on purpose."""


class NotFoundError(GitmemError):
    """A block, agent, store or revision does not exist."""


class ValidationError(GitmemError):
    """Input or a file does not follow the format or its rules."""


class LimitExceededError(ValidationError):
    """A value would be longer than its block's character limit."""


class ReadOnlyError(GitmemError):
    """A memory tool tried to change a read-only block."""


class ConflictError(GitmemError):
    """Someone else changed the same thing first; retrying may succeed."""


class CorruptError(GitmemError):
    """The Git repository is damaged: an object is missing, unreadable or not what it claims."""


class BadFileError(ValidationError):
    """A committed block or manifest is not valid: reads skip it until someone fixes it."""


class UnsupportedError(GitmemError):
    """The repository uses a Git feature gitmem cannot work with without damaging it."""
