"""Concurrent writers on one block: gitmem's memory_insert against the git CLI.

    python bench/concurrency.py [--ops 400] [--runs 3] [--procs 1,2,4,8]

For each number of processes, the same workload twice, side by side in one run:

- gitmem: each process opens the store and calls ``memory_insert`` on one shared
  block, one unique line per call.
- git: each process, per line, reads ``shared.md``, appends the line (rewriting
  the file in place, as a script's ``open(path, "w")`` does), then runs ``git add``
  and ``git commit``; when a git command fails (another writer holds
  ``index.lock`` or moved the branch) it starts over from the read, appending only
  if its line is not there. A line counts as acknowledged once ``git commit``
  succeeded (or said there was nothing to commit: another writer's commit took it).

Every process writes ``--ops / procs`` lines. Reported: aggregate lines per
second (from the moment all processes are ready until the last one is done,
median over ``--runs``) and lost writes: acknowledged lines missing from the
branch head at the end (total over the runs).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import gitmem

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

    Ready = Queue[int]  # each writer's pid
    Done = Queue[tuple[float, list[str]]]  # when it finished, the lines acknowledged
    Writer = Callable[[Path, list[str], Ready, Event, Done], None]

AGENT, LABEL = "bench", "shared"
GIT_FILE = "shared.md"


def _gitmem_setup(path: Path) -> None:
    with gitmem.Client.init(path) as client:
        client.blocks.create(label=LABEL, limit=1_000_000)
        client.agents.create(name=AGENT, block_ids=[LABEL])


def _gitmem_writer(path: Path, lines: list[str], ready: Ready, go: Event, done: Done) -> None:
    with gitmem.Client(path) as client:
        memory = client.agents.memory(AGENT)
        ready.put(os.getpid())
        go.wait()
        acked = []
        for line in lines:
            memory.memory_insert(LABEL, line)
            acked.append(line)
        done.put((time.monotonic(), acked))


def _gitmem_final(path: Path) -> list[str]:
    with gitmem.Client(path) as client:
        return client.blocks.retrieve(LABEL).value.split("\n")


def _git(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=False)


def _git_setup(path: Path) -> None:
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / GIT_FILE).write_text("")
    _git(path, "add", GIT_FILE)
    _git(path, "commit", "-q", "-m", "init")


def _git_writer(path: Path, lines: list[str], ready: Ready, go: Event, done: Done) -> None:
    ready.put(os.getpid())
    go.wait()
    acked = []
    file = path / GIT_FILE
    for line in lines:
        while True:
            text = file.read_text()
            if line not in text.split("\n"):
                file.write_text(text + line + "\n")
            if _git(path, "add", GIT_FILE).returncode != 0:
                continue
            commit = _git(path, "commit", "-q", "-m", line)
            if commit.returncode == 0 or "nothing to commit" in commit.stdout:
                break
        acked.append(line)
    done.put((time.monotonic(), acked))


def _git_final(path: Path) -> list[str]:
    return _git(path, "show", f"HEAD:{GIT_FILE}").stdout.split("\n")


def run_once(
    setup: Callable[[Path], None],
    writer: Writer,
    final: Callable[[Path], list[str]],
    procs: int,
    ops: int,
) -> tuple[float, int]:
    """(lines per second, lost lines) for ``procs`` writers sharing ``ops`` lines."""
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="gitmem-bench-") as tmp:
        path = Path(tmp) / "store"
        setup(path)
        ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        per = ops // procs
        workers = [
            ctx.Process(
                target=writer, args=(path, [f"p{i}-{j}" for j in range(per)], ready, go, done)
            )
            for i in range(procs)
        ]
        for w in workers:
            w.start()
        for _ in workers:
            ready.get()
        start = time.monotonic()
        go.set()
        results = [done.get() for _ in workers]
        for w in workers:
            w.join()
        elapsed = max(end for end, _ in results) - start
        present = set(final(path))
        acked = [line for _, lines in results for line in lines]
        lost = sum(1 for line in acked if line not in present)
        return len(acked) / elapsed, lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=400, help="lines written per measurement")
    parser.add_argument("--runs", type=int, default=3, help="measurements per cell (median)")
    parser.add_argument("--procs", default="1,2,4,8", help="numbers of writer processes")
    parser.add_argument("--no-git", action="store_true", help="measure gitmem only")
    args = parser.parse_args()
    # Writers commit as someone, whatever the machine's git config says.
    for role in ("AUTHOR", "COMMITTER"):
        os.environ[f"GIT_{role}_NAME"] = "bench"
        os.environ[f"GIT_{role}_EMAIL"] = "bench@localhost"

    systems = {"gitmem": (_gitmem_setup, _gitmem_writer, _gitmem_final)}
    if not args.no_git:
        systems["git CLI"] = (_git_setup, _git_writer, _git_final)
    header = "| processes | " + " | ".join(f"{s} inserts/s | {s} lost" for s in systems) + " |"
    print(f"{args.ops} lines per measurement, median of {args.runs} runs, lost summed\n")
    print(header)
    print("|" + "---|" * (1 + 2 * len(systems)))
    for procs in (int(p) for p in args.procs.split(",")):
        cells = []
        for setup, writer, final in systems.values():
            rates, lost = [], 0
            for _ in range(args.runs):
                rate, lost_now = run_once(setup, writer, final, procs, args.ops)
                rates.append(rate)
                lost += lost_now
            cells += [f"{statistics.median(rates):.0f}", str(lost)]
        print(f"| {procs} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
