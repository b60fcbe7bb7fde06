"""Deployments syncing through one hub: is anything acknowledged lost?

For N deployments (clones of one bare hub), each runs an agent process
(inserts into task_queue, replaces of its own lines, rewrites of
handoff_context) and a ``gitmem sync`` loop for T seconds; then every
deployment syncs in rounds until all heads are equal. Printed per run:
acknowledged writes, how many are missing or doubled at the end, syncs,
merge conflicts and pushes that lost their race five times (both exit 3) and
internal errors during the run, the rounds it took to converge, and the
median sync time.

The same runs are made with the code of another revision (``--baseline REV``,
default: the first parent of the commit that brought operation replay,
i.e. the block-aware three-way merge alone), checked out in a temporary
directory, so the two merges are compared in one run on one machine.

    python bench/deployments.py [--seconds 8] [--sizes 2,3,5] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "tests" / "deployment_agent.py"
MAX_ROUNDS = 5


def trial(n: int, seconds: float) -> dict[str, object]:
    """One run with the gitmem on sys.path; returns its counts."""
    import gitmem

    work = Path(tempfile.mkdtemp(prefix="gitmem-deployments-"))
    hub = work / "hub.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(hub)], check=True)
    with gitmem.Client.init(work / "seed", sample=True) as seed:
        seed.add_remote("origin", str(hub))
        seed.push()
    names = [chr(ord("a") + i) for i in range(n)]
    for name in names:
        gitmem.Client.clone(str(hub), work / name).close()
    procs = [
        subprocess.Popen(
            [sys.executable, str(AGENT), str(work / name), kind, name, str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for name in names
        for kind in ("agent", "sync")
    ]
    lines = [line for proc in procs for line in proc.communicate()[0].splitlines()]
    syncs = [line for line in lines if line.startswith("sync ")]
    times = [float(line.rsplit("\t", 1)[1]) for line in syncs]
    # Exit 3 is a merge conflict, or a push that lost its race to another
    # deployment five times running (retried by the next sync).
    conflicts = sum("conflict with changes made here" in line for line in syncs)
    races = sum(line.startswith("sync conflict") for line in syncs) - conflicts
    errors = sum(line.startswith("sync error internal") for line in syncs)

    clients = [gitmem.Client(work / name) for name in names]
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        for client in clients:
            try:
                client.sync()
            except gitmem.ConflictError:
                conflicts += 1
            except Exception:
                errors += 1
        heads = {
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=c.path, capture_output=True, text=True
            ).stdout
            for c in clients
        }
        if len(heads) == 1:
            break
    else:
        rounds = -1  # did not converge
    # What every deployment ends with, judged from the first (heads are equal
    # when converged; when not, the first one is as good as any).
    queue = Counter(clients[0].blocks.retrieve("task_queue").value.split("\n"))
    for client in clients:
        client.close()
    inserted = [line.split(" ", 1)[1] for line in lines if line.startswith("insert ")]
    replaced = dict(
        line.split(" ", 1)[1].split("\t") for line in lines if line.startswith("replace ")
    )
    expected = [replaced.get(text, text) for text in inserted]
    acked = len(inserted) + len(replaced)
    missing = sum(1 for text in expected if queue[text] == 0)
    missing += sum(1 for old in replaced if queue[old] > 0)  # a replace undone
    doubled = sum(1 for text in expected if queue[text] > 1)
    return {
        "acked": acked,
        "missing": missing,
        "doubled": doubled,
        "syncs": len(syncs),
        "conflicts": conflicts,
        "push_races": races,
        "errors": errors,
        "rounds": rounds,
        "sync_ms": round(statistics.median(times) * 1000) if times else None,
    }


def run(code: Path, n: int, seconds: float) -> dict[str, object]:
    """A trial in a process whose gitmem is the one in ``code``."""
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--trial",
            str(n),
            "--seconds",
            str(seconds),
        ],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--sizes", default="2,3,5")
    parser.add_argument("--baseline", default=None)
    parser.add_argument("--trial", type=int, default=None)
    args = parser.parse_args()
    if args.trial is not None:
        print(json.dumps(trial(args.trial, args.seconds)))
        return
    baseline = args.baseline or _replay_parent()
    with tempfile.TemporaryDirectory(prefix="gitmem-baseline-") as old:
        subprocess.run(
            f"git -C {ROOT} archive {baseline} | tar -x -C {old}", shell=True, check=True
        )
        # The agent script is this revision's, so both run the same workload.
        (Path(old) / "tests").mkdir(exist_ok=True)
        (Path(old) / "tests" / AGENT.name).write_bytes(AGENT.read_bytes())
        rows = []
        for n in [int(x) for x in args.sizes.split(",")]:
            for label, code in (
                ("replay (this tree)", ROOT),
                (f"3-way ({baseline[:10]})", Path(old)),
            ):
                start = time.monotonic()
                result = run(code, n, args.seconds)
                result["wall_s"] = round(time.monotonic() - start, 1)
                rows.append((label, n, result))
                print(label, n, result, file=sys.stderr, flush=True)
    keys = [
        "acked",
        "missing",
        "doubled",
        "syncs",
        "conflicts",
        "push_races",
        "errors",
        "rounds",
        "sync_ms",
    ]
    print(f"\n{args.seconds:g} s of writes per run; rounds -1: not converged after {MAX_ROUNDS}\n")
    print("| merge | deployments | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for label, n, result in rows:
        cells = [str(result.get(k, result.get("failed", "?"))) for k in keys]
        print(f"| {label} | {n} | " + " | ".join(cells) + " |")


def _replay_parent() -> str:
    """The revision before operation replay: the parent of the commit that added replay.py
    (as gitmem/replay.py: the layout commit moved it to gitmem/model/)."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--format=%H", "--diff-filter=A", "--", "gitmem/replay.py"],
        capture_output=True,
        text=True,
        check=True,
    )
    first = done.stdout.split()[-1]
    parent = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", first + "~1"], capture_output=True, text=True
    )
    return parent.stdout.strip()


if __name__ == "__main__":
    main()
