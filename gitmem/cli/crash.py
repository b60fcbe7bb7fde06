"""What a person sees when gitmem has a bug: one line with the error and where
the full report is, one saying it is a bug, where to report it and the versions
of everything involved. The traceback goes to the report, never to the screen.

Imported only when a command crashed, so nothing here slows a start-up.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import traceback
from importlib import metadata

# The labels of [project.urls] in pyproject.toml that say where bugs go.
_TRACKER_LABELS = ("issues", "bugs", "bug tracker", "tracker")


def report(exc: BaseException) -> str:
    """Write a crash report for ``exc``; return what to print, for the person."""
    summary = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0][:300]
    try:
        found = versions()
    except Exception as e:  # what reports a bug must not fail on one
        found = f"versions unknown: {type(e).__name__}"
    try:
        fd, path = tempfile.mkstemp(prefix="gitmem-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"command: gitmem {' '.join(map(repr, sys.argv[1:]))}\n")
            f.write(f"versions: {found}\n\n")
            f.write("".join(traceback.format_exception(exc)))
    except OSError as e:
        where = f"no report written: {e.strerror}"
        attach = "this message"
    else:
        where = f"full report in {path}"
        attach = "that file"
    return (
        f"{summary} ({where})\n"
        f"This is a bug in gitmem; please report it {tracker()} with {attach} ({found})"
    )


def versions() -> str:
    """gitmem's, dulwich's, git's (if on PATH), Python's and the platform's, in one line."""
    return ", ".join(
        (
            f"gitmem {_version('gitmem')}",
            f"dulwich {_version('dulwich')}",
            _git_version(),
            f"Python {platform.python_version()}",
            platform.platform(),
        )
    )


def tracker() -> str:
    """Where gitmem's bugs go, as its package metadata says: "at URL", else "to
    gitmem's maintainers"."""
    try:
        urls = metadata.metadata("gitmem").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    labelled = dict(url.split(", ", 1) for url in urls if ", " in url)
    by_label = {label.lower(): url for label, url in labelled.items()}
    for label in _TRACKER_LABELS:
        if label in by_label:
            return f"at {by_label[label]}"
    return "to gitmem's maintainers"


def _version(package: str) -> str:
    # From the installed metadata, not by importing: the import may be what broke.
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _git_version() -> str:
    git = shutil.which("git")
    if git is None:
        return "git: not on PATH"
    try:
        done = subprocess.run(
            [git, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"git: {type(e).__name__}"
    return done.stdout.strip().replace("git version ", "git ", 1) or "git: no version"
