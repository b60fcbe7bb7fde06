"""A person committing with plain git while agents write: how often it works.

    python bench/plaingit.py [--writers 4] [--attempts 20] [--source DIR]

Agents (``--writers`` processes) insert into one block without pause; a person
edits another block (``notes``, which no agent touches) and runs ``git add`` then
``git commit`` (through gitmem's hooks), ``--attempts`` times, with a short
pause between attempts. Printed: attempts that succeeded on the first try, and
each failure by its cause. ``--source`` runs the gitmem found in DIR (for
example a checkout of main), for a side-by-side comparison.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

WRITER = """
import sys, gitmem
with gitmem.Client(sys.argv[1]) as client:
    memory = client.agents.memory("w")
    k = 0
    while True:
        memory.memory_insert("shared", f"{sys.argv[2]}-{k}")
        k += 1
"""

SETUP = """
import sys, gitmem
with gitmem.Client.init(sys.argv[1]) as client:
    client.blocks.create(label="shared", limit=1_000_000)
    client.blocks.create(label="notes", value="by hand:", limit=1_000_000)
    client.agents.create(name="w", block_ids=["shared"])
"""


def cause(step: str, stderr: str) -> str:
    if "index.lock" in stderr:
        return f"{step}: index.lock held"
    if "cannot lock ref" in stderr:
        return f"{step}: HEAD moved (cannot lock ref)"
    if "older than the branch" in stderr:
        return f"{step}: hook refused a stale copy"
    return f"{step}: {stderr.strip().splitlines()[-1] if stderr.strip() else 'failed'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(args.source.resolve()))
    env.setdefault("GIT_AUTHOR_NAME", "Pat Person")
    env.setdefault("GIT_AUTHOR_EMAIL", "pat@example.com")
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mem"
        subprocess.run([sys.executable, "-c", SETUP, str(store)], env=env, check=True)
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(store), f"p{i}"], env=env)
            for i in range(args.writers)
        ]
        time.sleep(1.0)  # the writers are up and writing
        outcomes: Counter[str] = Counter()
        notes = store / "blocks/notes.md"
        try:
            for k in range(args.attempts):
                with open(notes, "a") as f:
                    f.write(f"person-{k}\n")
                done = None
                for step, cmd in (
                    ("git add", ["add", "blocks/notes.md"]),
                    ("git commit", ["commit", "-q", "-m", f"person-{k}"]),
                ):
                    done = subprocess.run(
                        ["git", *cmd],
                        cwd=store,
                        env=env,
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if done.returncode:
                        outcomes[cause(step, done.stderr)] += 1
                        break
                else:
                    outcomes["succeeded on the first try"] += 1
                time.sleep(0.2)
        finally:
            for w in writers:
                w.kill()
                w.wait()
    print(
        f"{args.writers} writers, {args.attempts} attempts of git add + git commit, "
        f"gitmem from {args.source}"
    )
    for outcome, n in outcomes.most_common():
        print(f"| {outcome} | {n} |")


if __name__ == "__main__":
    main()
