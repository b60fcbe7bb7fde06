"""Files people change on disk, side by side with the git CLI in the same run:
`status` and `commit` of one edited block at 1,000 and 10,000 blocks, a plain
`git commit` through the gitmem pre-commit hook, and one merge-driver run.

    python bench/worktree.py [--repeat N] [--sizes 1000,10000]

Prints a Markdown table (milliseconds, medians).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ops import BLOCK, FILLER, make_store, median_ms  # bench/ops.py, next to this script

import gitmem
from gitmem.ops.store import Store
from gitmem.ops.worktree import commit_changed, status


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout


def edit(files: list[Path], i: int, tag: str) -> str:
    """Append a line to one block file; return its path in the store."""
    path = files[(i * 7919) % len(files)]
    path.write_text(path.read_text() + f"{tag} {i}\n")
    return f"blocks/{path.parent.name}/{path.name}"


def bench_size(work: Path, blocks: int, repeat: int) -> dict[str, float]:
    root = work / f"store-{blocks}"
    files = [root / "blocks" / f"{i}.md" for i in make_store(root, blocks, fanout=True)]
    cli = [sys.executable, "-m", "gitmem", "-C", str(root)]
    result = {}
    store = Store.open(root)
    try:
        edit(files, 0, "warm")
        status(store)
        result["status, gitmem API"] = median_ms(lambda i: status(store), repeat)
        result["status, gitmem CLI"] = median_ms(
            lambda i: subprocess.run([*cli, "status"], check=True, capture_output=True), repeat
        )
        result["status, git status"] = median_ms(
            lambda i: git(root, "status", "--porcelain"), repeat
        )
        commit_changed(store)

        def commit_api(i: int) -> None:
            edit(files, i, "api")
            commit_changed(store)

        result["commit 1 file, gitmem API"] = median_ms(commit_api, repeat)
        result["commit 1 named file, gitmem API (as a watcher does)"] = median_ms(
            lambda i: commit_changed(store, [edit(files, i, "named")]), repeat
        )
    finally:
        store.close()

    def commit_cli(i: int) -> None:
        edit(files, i, "cli")
        subprocess.run([*cli, "commit"], check=True, capture_output=True)

    def commit_git(hook: bool) -> Callable[[int], None]:
        def step(i: int) -> None:
            edit(files, i, f"git {hook}")
            git(root, "commit", "-qam", "edit", *([] if hook else ["--no-verify"]))

        return step

    result["commit 1 file, gitmem CLI"] = median_ms(commit_cli, repeat)
    result["commit 1 file, git commit -a (no hook)"] = median_ms(commit_git(False), repeat)
    result["commit 1 file, git commit -a + gitmem hook"] = median_ms(commit_git(True), repeat)
    assert git(root, "status", "--porcelain") == ""
    return result


def bench_driver(work: Path, repeat: int) -> float:
    """One run of the configured merge driver, as git starts it for each file."""
    root = work / "driver"
    gitmem.Client.init(root).close()
    command = git(root, "config", "merge.gitmem.driver").strip()
    base, ours, theirs = (root / name for name in ("O", "A", "B"))

    def step(i: int) -> None:
        base.write_text(BLOCK.format(label="notes", value=FILLER))
        ours.write_text(BLOCK.format(label="notes", value=f"{FILLER}\nours {i}"))
        theirs.write_text(BLOCK.format(label="notes", value=f"{FILLER}\ntheirs {i}"))
        args = command.replace("%O", "O").replace("%A", "A").replace("%B", "B")
        subprocess.run(args.replace("%P", "blocks/notes.md"), shell=True, cwd=root, check=True)

    return median_ms(step, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = {size: bench_size(work, size, args.repeat) for size in sizes}
        driver = bench_driver(work, args.repeat)
    names = list(rows[sizes[0]])
    print(
        f"| operation (median ms, {args.repeat} runs) | "
        + " | ".join(f"{s:,} blocks" for s in sizes)
        + " |"
    )
    print("|---|" + "---:|" * len(sizes))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{rows[s][name]:.1f}" for s in sizes) + " |")
    print(f"\nmerge driver, one file (process start included): {driver:.1f} ms")


if __name__ == "__main__":
    main()
