"""`gitmem pull` side by side with the git CLI in the same run: two clones of a
1,000-block store each make 500 commits (inserts on overlapping blocks), then
one pulls the other's. Merge: `gitmem pull` vs `git fetch` + `git merge` with
the gitmem merge driver; fast-forward: `gitmem pull` vs `git pull --ff-only`.

    python bench/sync.py [--repeat N] [--blocks 1000] [--commits 500]

Each run pulls into a fresh copy of the same clone. Prints a Markdown table
(seconds, medians) and the ratio of each git row to gitmem's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ops import make_store  # bench/ops.py, next to this script

import gitmem


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout


def append_lines(client: gitmem.Client, ids: list[str], tag: str, commits: int) -> None:
    """``commits`` inserts, one commit each, on blocks ``ids`` in turn."""
    for i in range(commits):
        block_id = ids[(i * 7) % len(ids)]
        value = client.blocks.retrieve(block_id).value
        client.blocks.update(block_id, value=f"{value}\n{tag} {i}")


def timed(prepare: Callable[[int], Path], run: Callable[[Path], None], repeat: int) -> float:
    """Median seconds of ``run`` on what ``prepare`` makes (not timed)."""
    times = []
    for i in range(repeat):
        target = prepare(i)
        start = time.perf_counter()
        run(target)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=500)
    args = parser.parse_args()
    gitmem_cli = [sys.executable, "-m", "gitmem"]
    with tempfile.TemporaryDirectory(prefix="gitmem-bench-") as tmp:
        work = Path(tmp)
        ids = make_store(work / "seed", args.blocks, fanout=True)
        remote = work / "remote.git"
        git(work, "clone", "-q", "--bare", str(work / "seed"), str(remote))
        stores = {}
        for side in ("a", "b", "behind"):  # behind: makes no commits; its pull fast-forwards
            with gitmem.Client.clone(str(remote), work / side) as client:
                stores[side] = client.path
        # A writes the first 40% of the blocks, B the 40% from 20%: half of
        # each side's blocks are changed by both (200 of 400 at 1,000 blocks).
        fifth = len(ids) // 5
        start = time.perf_counter()
        with gitmem.Client(stores["a"]) as a:
            append_lines(a, ids[: 2 * fifth], "from A", args.commits)
        with gitmem.Client(stores["b"]) as b:
            append_lines(b, ids[fifth : 3 * fifth], "from B", args.commits)
        built = time.perf_counter() - start
        git(stores["a"], "push", "-q", "origin", "main")
        print(
            f"  built {2 * args.commits} commits in {built:.1f} s "
            f"({built / (2 * args.commits) * 1000:.1f} ms each)",
            file=sys.stderr,
        )

        def copy_of(side: str, name: str) -> Callable[[int], Path]:
            def prepare(i: int) -> Path:
                target = work / f"{name}-{i}"
                shutil.copytree(stores[side], target, symlinks=True)
                return target

            return prepare

        def pull_cli(store: Path) -> None:
            subprocess.run([*gitmem_cli, "-C", str(store), "pull", "-q"], check=True)

        def pull_api(store: Path) -> None:
            with gitmem.Client(store) as client:
                client.pull()

        def git_merge(store: Path) -> None:
            git(store, "fetch", "-q", "origin")
            git(store, "merge", "-q", "--no-edit", "origin/main")

        def git_ff(store: Path) -> None:
            git(store, "pull", "-q", "--ff-only", "origin", "main")

        rows = {
            "merge: gitmem pull (CLI)": timed(copy_of("b", "m-cli"), pull_cli, args.repeat),
            "merge: client.pull() (API)": timed(copy_of("b", "m-api"), pull_api, args.repeat),
            "merge: git fetch + git merge (merge driver)": timed(
                copy_of("b", "m-git"), git_merge, args.repeat
            ),
            "fast-forward: gitmem pull (CLI)": timed(
                copy_of("behind", "f-cli"), pull_cli, args.repeat
            ),
            "fast-forward: git pull --ff-only": timed(
                copy_of("behind", "f-git"), git_ff, args.repeat
            ),
        }
        trees = {git(work / f"{n}-0", "rev-parse", "HEAD^{tree}") for n in ("m-cli", "m-git")}
        same = "the same tree" if len(trees) == 1 else "DIFFERENT trees"
        merged = git(work / "m-cli-0", "diff", "--name-only", "HEAD^1", "HEAD").split()
    print(
        f"| {args.blocks:,} blocks, {args.commits} commits per side "
        f"(median s, {args.repeat} runs) | seconds | git / gitmem |"
    )
    print("|---|---:|---:|")
    pairs = {
        "merge: git fetch + git merge (merge driver)": "merge: gitmem pull (CLI)",
        "fast-forward: git pull --ff-only": "fast-forward: gitmem pull (CLI)",
    }
    for name, seconds in rows.items():
        ratio = f"{seconds / rows[pairs[name]]:.2f}x" if name in pairs else ""
        print(f"| {name} | {seconds:.2f} | {ratio} |")
    print(f"\nThe merge changes {len(merged)} files on B; gitmem and git produce {same}.")


if __name__ == "__main__":
    main()
