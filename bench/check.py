"""How long ``gitmem check`` takes, beside ``git fsck`` doing the object part of it.

Run by hand: ``python bench/check.py``. Prints a table of medians.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from gitmem.git import fsck as gitcheck
from gitmem.git.repo import GitRepo
from gitmem.model.block import MAX_FILE_BYTES
from gitmem.ops.check import check_store
from gitmem.ops.store import Store

RUNS = 5


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def make_store(root: Path, blocks: int, commits: int) -> Path:
    """``blocks`` blocks in a 2-level layout (<group>/<n>), then ``commits`` updates."""
    files = {
        f"blocks/g{i % 32}/b{i}.md": f"---\nlabel: b{i}\n---\n{'x' * 900} {i}\n".encode()
        for i in range(blocks)
    }
    store = Store.init(root, files)
    for n in range(commits):
        store.update_block(f"g{n % 32}/b{n % blocks}", value=f"update {n}")
    store.close()
    return root


def objects_only(root: Path) -> None:
    repo = GitRepo(root, max_file=MAX_FILE_BYTES)
    ref, head = repo.branch_ref(), repo.head()
    repo.close()
    assert head is not None
    gitcheck.check_objects(root, ref.decode(), head)


def main() -> None:
    print("| blocks | commits | objects | gitmem check | its object walk | git fsck --strict |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for blocks, commits in [(100, 100), (1000, 100), (1000, 1000), (10000, 100)]:
            root = make_store(Path(tmp) / f"s{blocks}-{commits}", blocks, commits)
            report = check_store(root)
            assert not report.problems, report.problems
            check = median_ms(partial(check_store, root))
            walk = median_ms(partial(objects_only, root))
            fsck = median_ms(
                partial(
                    subprocess.run,
                    ["git", "fsck", "--strict", "--no-dangling"],
                    cwd=root,
                    check=True,
                    capture_output=True,
                )
            )
            print(
                f"| {blocks:,} | {commits:,} | {report.objects:,} | {check:,.0f} ms | "
                f"{walk:,.0f} ms | {fsck:,.0f} ms |",
                flush=True,
            )


if __name__ == "__main__":
    main()
