"""Median latency of one `blocks.update` at 10, 1,000 and 10,000 blocks, side by side
with the git CLI and dulwich porcelain doing the same change in the same run; and
`gitmem --help` start-up next to `python -c pass`.

    python bench/ops.py [--repeat N] [--sizes 10,1000,10000]

Prints a Markdown table (milliseconds, medians).
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

import gitmem

BLOCK = "---\nlabel: {label}\ndescription: ''\nlimit: 20000\nread_only: false\n---\n{value}\n"
FILLER = "x" * 900  # blocks of about 1 KB


def make_store(root: Path, blocks: int, fanout: bool) -> list[str]:
    """A gitmem store with ``blocks`` committed blocks; returns their ids."""
    gitmem.Client.init(root).close()
    ids = [f"agent-{i // 10:04}/note-{i % 10}" if fanout else f"note-{i:05}" for i in range(blocks)]
    for block_id in ids:
        path = root / "blocks" / f"{block_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(BLOCK.format(label=block_id.replace("/", "-"), value=FILLER))
    git(root, "add", "-A")
    # --no-verify here and below: these rows time commits, not the gitmem
    # pre-commit hook that `init` installs for people using plain git.
    git(root, "commit", "-q", "--no-verify", "-m", "seed")
    return ids


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def median_ms(step: Callable[[int], object], repeat: int) -> float:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_size(work: Path, blocks: int, fanout: bool, repeat: int) -> dict[str, float]:
    base = work / f"base-{blocks}-{fanout}"
    ids = make_store(base, blocks, fanout)
    targets = [ids[(i * 7919) % len(ids)] for i in range(repeat)]
    result = {}

    with gitmem.Client(base) as client:
        client.blocks.update(targets[0], value="warm-up")  # parse caches, as a running agent has
        result["gitmem API"] = median_ms(
            lambda i: client.blocks.update(targets[i], value=f"api {i}"), repeat
        )

    def cli(i: int) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gitmem",
                "-C",
                str(base),
                "blocks",
                "update",
                targets[i],
                "--value",
                f"cli {i}",
            ],
            check=True,
            capture_output=True,
        )

    result["gitmem CLI"] = median_ms(cli, repeat)

    plain = work / f"git-{blocks}-{fanout}"
    shutil.copytree(base, plain, symlinks=True)

    def git_cli(i: int) -> None:
        rel = f"blocks/{targets[i]}.md"
        (plain / rel).write_text(BLOCK.format(label="l", value=f"git {i}"))
        git(plain, "add", rel)
        git(plain, "commit", "-q", "--no-verify", "-m", f"update {targets[i]}")

    result["git CLI"] = median_ms(git_cli, repeat)

    def git_cli_fsync(i: int) -> None:
        # Like-for-like durability: gitmem fsyncs every object and the ref.
        rel = f"blocks/{targets[i]}.md"
        (plain / rel).write_text(BLOCK.format(label="l", value=f"git fsync {i}"))
        durable = ["-c", "core.fsync=loose-object,reference", "-c", "core.fsyncMethod=fsync"]
        git(plain, *durable, "add", rel)
        git(plain, *durable, "commit", "-q", "--no-verify", "-m", f"update {targets[i]}")

    result["git CLI, fsync"] = median_ms(git_cli_fsync, repeat)

    from dulwich import porcelain

    porc = work / f"porcelain-{blocks}-{fanout}"
    shutil.copytree(base, porc, symlinks=True)

    def dulwich_porcelain(i: int) -> None:
        rel = f"blocks/{targets[i]}.md"
        (porc / rel).write_text(BLOCK.format(label="l", value=f"porcelain {i}"))
        porcelain.add(str(porc), [str(porc / rel)])
        porcelain.commit(str(porc), message=f"update {targets[i]}".encode(), no_verify=True)

    result["dulwich porcelain"] = median_ms(dulwich_porcelain, max(5, repeat // 3))
    return result


def startup(repeat: int) -> tuple[float, float]:
    def run(*argv: str) -> Callable[[int], object]:
        return lambda _: subprocess.run(list(argv), check=True, capture_output=True)

    python = median_ms(run(sys.executable, "-c", "pass"), repeat)
    gitmem_help = median_ms(run(sys.executable, "-m", "gitmem", "--help"), repeat)
    return python, gitmem_help


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--sizes", default="10,1000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    columns = ["gitmem API", "gitmem CLI", "git CLI", "git CLI, fsync", "dulwich porcelain"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gitmem-bench-") as tmp:
        for fanout in (False, True):
            for blocks in sizes:
                r = bench_size(Path(tmp), blocks, fanout, args.repeat)
                layout = "agent/label (10 per dir)" if fanout else "one directory"
                rows.append((blocks, layout, r))
                print(f"  measured {blocks} blocks, {layout}", file=sys.stderr)
    print(
        "| blocks | layout | "
        + " | ".join(f"{c} (ms)" for c in columns)
        + " | git CLI / gitmem API | git CLI, fsync / gitmem API |"
    )
    print("|---" * (len(columns) + 4) + "|")
    for blocks, layout, r in rows:
        cells = " | ".join(f"{r[c]:.1f}" for c in columns)
        api = r["gitmem API"]
        print(
            f"| {blocks:,} | {layout} | {cells} | {r['git CLI'] / api:.1f}x "
            f"| {r['git CLI, fsync'] / api:.1f}x |"
        )
    for layout in ("one directory", "agent/label (10 per dir)"):
        by_size = {b: r["gitmem API"] for b, lay, r in rows if lay == layout}
        if min(by_size) in by_size and max(by_size) in by_size:
            ratio = by_size[max(by_size)] / by_size[min(by_size)]
            print(
                f"\ngitmem API, {layout}: {max(by_size):,} blocks costs {ratio:.2f}x "
                f"what {min(by_size):,} blocks cost"
            )
    python, gitmem_help = startup(args.repeat)
    print(
        f"\nstart-up: python -c pass {python:.0f} ms, gitmem --help {gitmem_help:.0f} ms "
        f"({gitmem_help / python:.1f}x)"
    )


if __name__ == "__main__":
    main()
