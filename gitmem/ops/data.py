"""Files that ship with gitmem: the sample memory and the hook scripts.

In a wheel they live in ``gitmem/_data``; in a source checkout, at the top level.
"""

from __future__ import annotations

from pathlib import Path

from gitmem.model.ids import AGENT_FILES, BLOCK_FILES

_PACKAGE = Path(__file__).resolve().parents[1]  # gitmem/


def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"gitmem is installed without its {name!r} files")


def store_files(directory: Path) -> dict[str, bytes]:
    """The blocks and agent manifests under ``directory``, by store path."""
    files = {}
    for pattern in (BLOCK_FILES, AGENT_FILES):
        for path in sorted(directory.glob(pattern)):
            files[path.relative_to(directory).as_posix()] = path.read_bytes()
    return files
