"""A person committing with plain git while agents write: how often it works.

    python bench/plaingit.py [--writers 4] [--attempts 20] [--runs 3]
                             [--source DIR ...] [--no-verify]

Agents (``--writers`` processes) insert into one block without pause; a person
edits another block (``notes``, which no agent touches) and runs ``git add``
then ``git commit`` (through gitmem's hooks), ``--attempts`` times, with a
short pause between attempts. Before the attempts, ``.git/index.lock`` is
sampled for two seconds while only the agents run: the share of the time it
exists is the share of the time an agent holds it (git never waits for it).
Afterwards every insert an agent was told had landed is looked for in the
block, and every note the person committed.

Printed, one row per run: attempts that succeeded on the first try, each
failure by its cause, the agents' share of index.lock, the median time of the
person's ``git add`` + ``git commit`` (successful ones), and acknowledged vs
lost inserts. Each ``--source`` (default: this checkout) runs the gitmem found
in that directory, in the same run, for a side-by-side comparison; make one
from another revision with ``git archive REV | tar -x -C DIR``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WRITER = """
import sys, gitmem
assert gitmem.__file__.startswith(sys.argv[3]), gitmem.__file__
with gitmem.Client(sys.argv[1]) as client:
    memory = client.agents.memory("w")
    k = 0
    while True:
        memory.memory_insert("shared", f"{sys.argv[2]}-{k}")
        print(f"{sys.argv[2]}-{k}", flush=True)
        k += 1
"""

SETUP = """
import sys, gitmem
with gitmem.Client.init(sys.argv[1]) as client:
    client.blocks.create(label="shared", limit=1_000_000)
    client.blocks.create(label="notes", value="by hand:", limit=1_000_000)
    client.agents.create(name="w", block_ids=["shared"])
"""

CAUSES = ("index.lock held", "HEAD moved", "hook refused a stale copy", "other")


def cause(stderr: str) -> str:
    if "index.lock" in stderr:
        return CAUSES[0]
    if "cannot lock ref" in stderr:
        return CAUSES[1]
    if "older than the branch" in stderr:
        return CAUSES[2]
    return CAUSES[3]


@dataclass
class Run:
    """One run's counts."""

    first_try: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    lock_share: float = 0.0
    person_ms: list[float] = field(default_factory=list)
    acknowledged: int = 0
    lost: int = 0
    notes_lost: int = 0
    other: list[str] = field(default_factory=list)


def git(store: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=store, env=env, capture_output=True, text=True, check=False
    )


def lock_share(lock: Path, seconds: float) -> float:
    """The share of samples, every ~0.2 ms for ``seconds``, in which ``lock`` exists."""
    held = total = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        held += lock.exists()
        total += 1
        time.sleep(0.0002)
    return held / total


def one_run(source: Path, args: argparse.Namespace) -> Run:
    env = dict(os.environ, PYTHONPATH=str(source))
    env.setdefault("GIT_AUTHOR_NAME", "Pat Person")
    env.setdefault("GIT_AUTHOR_EMAIL", "pat@example.com")
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    run = Run()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mem"
        # cwd: python -c imports from the current directory first, which would
        # be this checkout's gitmem whatever --source says.
        subprocess.run([sys.executable, "-c", SETUP, str(store)], env=env, cwd=tmp, check=True)
        acks = [Path(tmp) / f"acks-{i}" for i in range(args.writers)]
        writers = []
        for i, ack in enumerate(acks):
            with open(ack, "w") as out:
                writers.append(
                    subprocess.Popen(
                        [sys.executable, "-c", WRITER, str(store), f"p{i}", str(source)],
                        env=env,
                        cwd=tmp,
                        stdout=out,
                    )
                )
        time.sleep(1.0)  # the writers are up and writing
        run.lock_share = lock_share(store / ".git/index.lock", 2.0)
        notes = store / "blocks/notes.md"
        commit = ["commit", "-q", *(["--no-verify"] if args.no_verify else [])]
        try:
            for k in range(args.attempts):
                with open(notes, "a") as f:
                    f.write(f"person-{k}\n")
                start = time.perf_counter()
                for cmd in (["add", "blocks/notes.md"], [*commit, "-m", f"person-{k}"]):
                    done = git(store, env, *cmd)
                    if done.returncode:
                        why = cause(done.stderr)
                        run.failures[f"{cmd[0]}: {why}"] += 1
                        if why == "other":
                            run.other.append(done.stderr.strip())
                        break
                else:
                    run.first_try += 1
                    run.person_ms.append((time.perf_counter() - start) * 1000)
                time.sleep(0.2)
        finally:
            for w in writers:
                w.kill()
                w.wait()
        acked = [line for ack in acks for line in ack.read_text().splitlines()]
        shared = git(store, env, "show", "main:blocks/shared.md").stdout.splitlines()
        present = set(shared)
        run.acknowledged = len(acked)
        run.lost = sum(1 for a in acked if a not in present)
        # Every note up to the last committed attempt is in the branch (a failed
        # attempt's note is committed by the next one that succeeds).
        committed = set(git(store, env, "show", "main:blocks/notes.md").stdout.splitlines())
        last = max((k for k in range(args.attempts) if f"person-{k}" in committed), default=-1)
        run.notes_lost = sum(1 for k in range(last + 1) if f"person-{k}" not in committed)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source", type=Path, action="append")
    parser.add_argument("--no-verify", action="store_true", help="git commit --no-verify")
    args = parser.parse_args()
    sources = [s.resolve() for s in args.source or [Path(__file__).resolve().parent.parent]]
    print(
        f"{args.writers} writers; {args.attempts} attempts of git add + git commit"
        f"{' --no-verify' if args.no_verify else ''} per run\n"
    )
    print(
        "| gitmem | run | first try | failures | agents hold index.lock | "
        "add + commit p50 (ms) | inserts acknowledged | lost | notes lost |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    others = []
    for source in sources:
        runs = []
        for r in range(args.runs):
            run = one_run(source, args)
            runs.append(run)
            others += run.other
            failures = ", ".join(f"{k} {n}" for k, n in run.failures.most_common()) or "-"
            p50 = f"{statistics.median(run.person_ms):.0f}" if run.person_ms else "-"
            print(
                f"| {source.name} | {r + 1} | {run.first_try}/{args.attempts} | {failures} | "
                f"{run.lock_share:.0%} | {p50} | {run.acknowledged} | {run.lost} | "
                f"{run.notes_lost} |",
                flush=True,
            )
        print(
            f"| {source.name} | median | "
            f"{statistics.median(r.first_try for r in runs):g}/{args.attempts} | | "
            f"{statistics.median(r.lock_share for r in runs):.0%} | | | "
            f"{sum(r.lost for r in runs)} (sum) | {sum(r.notes_lost for r in runs)} (sum) |",
            flush=True,
        )
    for text in others[:5]:
        print("other failure:", text, file=sys.stderr)


if __name__ == "__main__":
    main()
