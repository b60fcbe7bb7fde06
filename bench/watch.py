"""Watcher latency: from a change made in another process to the event line that
`gitmem watch --json --agent worker` prints, p50 and p99, at 10 and 1,000 blocks.

- memory_insert: an agent's operation through the API in this process (the
  watcher is another process); timed from the start of the call, so the
  operation's own time is included (shown on its own as well).
- git commit -a: a person's commit with the git binary, timed from its start
  (its own process start-up included); that watcher runs with --no-commit, so
  that it does not commit the saved file itself before git does.
- editor save: a temp file renamed over the block (most editors save so), timed
  from the rename; the watcher's debounce and its commit are included.

    python bench/watch.py [--repeat 200] [--sizes 10,1000]

Prints a Markdown table (milliseconds).
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ops import make_store  # bench/ops.py, next to this script

import gitmem

WAIT = 30.0


class Watcher:
    """A `gitmem watch` process; each stdout line is stamped as it arrives."""

    def __init__(self, root: Path, *args: str) -> None:
        command = [sys.executable, "-m", "gitmem", "-C", str(root), "watch", "--json", *args]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[float] = queue.Queue()
        self.said: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._stamp, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._keep, args=(self.proc.stderr,), daemon=True).start()
        line = self.said.get(timeout=WAIT)
        assert line.startswith("watching "), line

    def _stamp(self, stream: IO[str]) -> None:
        for _ in stream:
            self.lines.put(time.perf_counter())

    def _keep(self, stream: IO[str]) -> None:
        for line in stream:
            self.said.put(line)

    def next_line(self) -> float:
        try:
            return self.lines.get(timeout=WAIT)
        except queue.Empty:
            said = "".join(self.said.queue)
            raise SystemExit(f"no event came; the watcher said:\n{said}") from None

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=WAIT)


def percentiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def measure(repeat: int, change: Callable[[int], float], watcher: Watcher) -> list[float]:
    """Latency of each change: ``change(i)`` returns when it started."""
    times = []
    for i in range(repeat):
        started = change(i)
        times.append(watcher.next_line() - started)
    return times


def bench_size(work: Path, blocks: int, repeat: int) -> dict[str, list[float]]:
    root = work / f"store-{blocks}"
    make_store(root, max(blocks - 1, 1), fanout=True)
    with gitmem.Client(root) as client:
        client.blocks.create(label="notes", value="", id="worker/notes")
        client.agents.create(name="worker", block_ids=["worker/notes"])
    block = root / "blocks/worker/notes.md"
    result: dict[str, list[float]] = {}

    watcher = Watcher(root, "--agent", "worker")
    with watcher, gitmem.Client(root) as client:
        memory = client.agents.memory("worker")
        memory.memory_insert("notes", "warm-up")
        watcher.next_line()
        calls: list[float] = []

        def insert(i: int) -> float:
            started = time.perf_counter()
            memory.memory_insert("notes", f"fact {i}")
            calls.append(time.perf_counter() - started)
            return started

        result["memory_insert in another process -> event"] = measure(repeat, insert, watcher)
        result["  the memory_insert call alone"] = calls

        def save(i: int) -> float:
            tmp = block.with_name(f".notes.md.tmp{i}")
            tmp.write_text(block.read_text() + f"saved {i}\n")
            os.replace(tmp, block)
            return time.perf_counter()

        result["editor save (temp + rename) -> event"] = measure(repeat, save, watcher)

    watcher = Watcher(root, "--agent", "worker", "--no-commit")

    def commit(i: int) -> float:
        started = time.perf_counter()
        with open(block, "a") as f:
            f.write(f"git {i}\n")
        subprocess.run(
            ["git", "commit", "-q", "--no-verify", "-am", f"git {i}"],
            cwd=root,
            check=True,
            capture_output=True,
        )
        return started

    with watcher:
        result["git commit -a -> event"] = measure(repeat, commit, watcher)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--sizes", default="10,1000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    by_size = {}
    with tempfile.TemporaryDirectory(prefix="gitmem-bench-") as tmp:
        for blocks in sizes:
            by_size[blocks] = bench_size(Path(tmp), blocks, args.repeat)
            print(f"  measured {blocks} blocks", file=sys.stderr)
    print(
        f"| change (ms, {args.repeat} each) | "
        + " | ".join(f"p50, {b:,} blocks | p99, {b:,} blocks" for b in sizes)
        + " |"
    )
    print("|---" + "|---:" * (2 * len(sizes)) + "|")
    for row in by_size[sizes[0]]:
        cells = []
        for blocks in sizes:
            p50, p99 = percentiles(by_size[blocks][row])
            cells += [f"{p50:.1f}", f"{p99:.1f}"]
        print(f"| {row.strip()} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
