"""Median latency of one `blocks.update` at 10, 1,000 and 10,000 blocks, side by side
with the git CLI and dulwich porcelain doing the same change in the same run; and
`gitmem --help` start-up next to `python -c pass`.

    python bench/ops.py [--repeat N] [--sizes 10,1000,10000]

With ``--baseline REV``, gitmem against itself instead: the same operations
(update through the API and the CLI, committing a saved file, a watcher's event
for a new commit, a pull of one commit) run through this tree and through a
temporary ``git worktree`` of REV, each in processes of its own, the two sides
taking turns for ``--rounds`` rounds:

    python bench/ops.py --baseline 0eff950 [--repeat N] [--rounds N] [--sizes ...]

Prints a Markdown table (milliseconds, medians).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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


def samples_ms(
    step: Callable[[int], object],
    repeat: int,
    prepare: Callable[[int], object] | None = None,
    settle: float = 0.0,
) -> list[float]:
    """``step(i)`` timed for each i below ``repeat``, in milliseconds; ``prepare(i)``
    runs before it untimed, and the next one waits ``settle`` seconds."""
    times = []
    for i in range(repeat):
        if prepare is not None:
            prepare(i)
        start = time.perf_counter()
        step(i)
        times.append((time.perf_counter() - start) * 1000)
        time.sleep(settle)
    return times


def median_ms(step: Callable[[int], object], repeat: int) -> float:
    return statistics.median(samples_ms(step, repeat))


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


# -- gitmem against an earlier revision of itself --------------------------------

ROOT = Path(__file__).resolve().parents[1]
OPS = [
    "update (API)",
    "update (CLI)",
    "commit a saved file",
    "watch: commit to event",
    "pull one commit",
]


def gitmem_ops(work: Path, blocks: int, fanout: bool, repeat: int) -> dict[str, list[float]]:
    """Each of OPS ``repeat`` times on a store of ``blocks`` blocks, through the public
    API only (whichever gitmem this process imports); milliseconds."""
    base = work / "store"
    ids = make_store(base, blocks, fanout)
    targets = [ids[(i * 7919) % len(ids)] for i in range(repeat)]
    found: dict[str, list[float]] = {}
    with gitmem.Client(base) as client:
        client.blocks.update(targets[0], value="warm-up")  # parse caches, as a running agent has
        found["update (API)"] = samples_ms(
            lambda i: client.blocks.update(targets[i], value=f"api {i}"), repeat
        )

        def cli(i: int) -> None:
            argv = ["-C", str(base), "blocks", "update", targets[i], "--value", f"cli {i}"]
            subprocess.run(
                [sys.executable, "-m", "gitmem", *argv], check=True, capture_output=True, cwd=work
            )

        found["update (CLI)"] = samples_ms(cli, repeat)

        def commit_saved(i: int) -> None:
            client.commit()

        def save(i: int) -> None:
            path = base / "blocks" / f"{targets[i]}.md"
            path.write_text(BLOCK.format(label=targets[i].replace("/", "-"), value=f"saved {i}"))

        found["commit a saved file"] = samples_ms(commit_saved, repeat, save)

        # An agent attached to every block updated, and a watcher telling it.
        client.agents.create(name="watched", block_ids=list(dict.fromkeys(targets)))
        with client.watch("watched", commit=False) as watcher:
            events = iter(watcher)
            client.blocks.update(targets[0], value="warm-up 2")
            next(events)
            time.sleep(2)  # the watcher's first look at the files on disk, in a thread

            def update(i: int) -> None:
                client.blocks.update(targets[i], value=f"watched {i}")

            def told(i: int) -> None:
                next(events)

            # The wait after each event lets the watcher look at the file the
            # update rewrote (after its debounce) outside the time measured.
            found["watch: commit to event"] = samples_ms(told, repeat, update, settle=0.15)

    copy = work / "clone"
    gitmem.Client.clone(str(base), copy).close()
    with gitmem.Client(base) as upstream, gitmem.Client(copy) as clone:

        def commit_upstream(i: int) -> None:
            upstream.blocks.update(targets[i], value=f"pulled {i}")

        def pull(i: int) -> None:
            clone.pull()

        found["pull one commit"] = samples_ms(pull, repeat, commit_upstream)
    return found


def against_baseline(rev: str, sizes: list[int], repeat: int, rounds: int) -> None:
    """Run gitmem_ops through this tree and through a worktree of ``rev``, in turns."""
    label = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    configs = [(blocks, fanout) for fanout in (False, True) for blocks in sizes]
    times: dict[tuple[int, bool, str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gitmem-bench-") as tmp:
        old = Path(tmp) / f"baseline-{label}"
        git(ROOT, "worktree", "add", "--detach", str(old), rev)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # remove the worktree then too
        try:
            sides = [("this tree", ROOT), (label, old)]
            for round_ in range(rounds):
                for blocks, fanout in configs:
                    # Taking turns at going first: neither side always gets the cooler machine.
                    for side, code in sides if round_ % 2 == 0 else sides[::-1]:
                        found = _child(Path(tmp), code, blocks, fanout, repeat)
                        for op, samples in found.items():
                            times.setdefault((blocks, fanout, op, side), []).extend(samples)
                        print(f"  round {round_ + 1}: {side}, {blocks} blocks", file=sys.stderr)
        finally:
            git(ROOT, "worktree", "remove", "--force", str(old))
    print(f"| blocks | layout | operation | {label} (ms) | this tree (ms) | this tree / {label} |")
    print("|---|---|---|---|---|---|")
    for blocks, fanout in configs:
        layout = "agent/label (10 per dir)" if fanout else "one directory"
        for op in OPS:
            before = statistics.median(times[blocks, fanout, op, label])
            after = statistics.median(times[blocks, fanout, op, "this tree"])
            print(
                f"| {blocks:,} | {layout} | {op} | {before:.1f} | {after:.1f} "
                f"| {after / before:.2f}x |"
            )
    print(f"\nmedians of {rounds} rounds x {repeat} runs per side; each side in its own processes")


def _child(tmp: Path, code: Path, blocks: int, fanout: bool, repeat: int) -> dict[str, list[float]]:
    """gitmem_ops in a new process whose ``import gitmem`` finds the one in ``code``."""
    work = Path(tempfile.mkdtemp(dir=tmp))
    try:
        argv = ["--child", str(work), "--sizes", str(blocks), "--repeat", str(repeat)]
        done = subprocess.run(
            [sys.executable, __file__, *argv, *(["--fanout"] if fanout else [])],
            check=True,
            capture_output=True,
            text=True,
            cwd=work,  # never the tree: `python -m gitmem` would import gitmem from there
            env={**os.environ, "PYTHONPATH": str(code)},
        )
        result: dict[str, list[float]] = json.loads(done.stdout)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
    parser.add_argument("--baseline", metavar="REV", help="compare gitmem with gitmem at REV")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fanout", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child is not None:
        print(json.dumps(gitmem_ops(args.child, sizes[0], args.fanout, args.repeat)))
        return
    if args.baseline is not None:
        against_baseline(args.baseline, sizes, args.repeat, args.rounds)
        return
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
