"""`gitmem demo` plays the story for real and leaves a sound store behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import assert_clean, git


def test_demo_tells_the_story_and_its_store_is_sound(tmp_path: Path) -> None:
    kept = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "gitmem", "demo", "--keep", str(kept)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "shared: supervisor, worker have 'organization'" in out
    assert "[done] T-2: Call Dana about ticket 4411" in out
    told = "worker: updated task_queue (task_queue) by supervisor, memory_insert\n"
    assert re.search(r"\nworker was told: [0-9a-f]{10} " + re.escape(told), out)
    assert "\n+[todo] T-2: Call Dana about ticket 4411\n" in out
    assert "worker's memory_rethink refused: This block is read-only and cannot be edited." in out
    assert "40 of 40 facts are there" in out
    assert "memory_insert   worker       memory_insert: domain_knowledge  (x40)" in out
    value = (kept / "blocks/domain_knowledge.md").read_text()
    assert sum(line.startswith("fact ") for line in value.splitlines()) == 40
    assert git(kept, "log", "-1", "--format=%an").strip() == "worker"
    assert_clean(kept)
