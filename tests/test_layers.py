"""The package's layers (pyproject.toml, [tool.importlinter]) hold, and the check
that CI runs would catch an import across them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(top: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(top)}  # this tree's gitmem, ahead of the installed one
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(top / "pyproject.toml"), "--no-cache"],
        cwd=top,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "gitmem", top / "gitmem", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", top)
    return top


def test_the_layers_hold() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "git/lock.py",
            "from gitmem.model import ids",
            "gitmem.git is not allowed to import gitmem.model",
        ),
        (
            "git/tree.py",
            "from gitmem.ops import view",
            "gitmem.git is not allowed to import gitmem.ops",
        ),
        ("model/ids.py", "import dulwich.objects", "gitmem.model is not allowed to import dulwich"),
        ("model/block.py", "import click", "gitmem.model is not allowed to import click"),
        (
            "ops/store.py",
            "from gitmem.cli import base",
            "gitmem.ops is not allowed to import gitmem.cli",
        ),
        (
            "client.py",
            "from gitmem.mcp import tools",
            "gitmem.client is not allowed to import gitmem.mcp",
        ),
        (
            "cli/check.py",
            "from gitmem.ops import check",
            "gitmem.cli is not allowed to import gitmem.ops",
        ),
        (
            "cli/hooks.py",
            "from gitmem.git import repo",
            "gitmem.cli is not allowed to import gitmem.git",
        ),
        (
            "mcp/tools.py",
            "from gitmem.serve import wire",
            "gitmem.mcp is not allowed to import gitmem.serve",
        ),
        ("ops/tokens.py", "import starlette", "gitmem.ops is not allowed to import starlette"),
    ],
)
def test_an_import_across_a_layer_fails_the_check(
    copy: Path, module: str, line: str, broken: str
) -> None:
    path = copy / "gitmem" / module
    original = path.read_text()
    # After the docstring and `from __future__`, where an import may go.
    head, future, rest = original.partition("from __future__ import annotations\n")
    path.write_text(head + future + line + "\n" + rest)
    try:
        done = lint_imports(copy)
    finally:
        path.write_text(original)
    assert done.returncode == 1, done.stdout + done.stderr
    assert broken in done.stdout
