"""A deployment's processes for the soak test (tests/test_soak.py) and bench/deployments.py.

    python deployment_agent.py STORE agent NAME SECONDS   memory operations
    python deployment_agent.py STORE sync NAME SECONDS    gitmem sync in a loop
    python deployment_agent.py STORE person NAME SECONDS  plain git commits

Each prints one line per acknowledged operation (the call returned), flushed
at once: ``insert TEXT``, ``replace OLD NEW``, ``rethink VALUE``, ``person
TEXT``; the sync loop prints ``sync OUTCOME SECONDS`` per run (``ok``,
``conflict``, or ``error MESSAGE``). The agent inserts ``[NAME:K] todo`` into
task_queue, marks some of its own lines ``done`` with memory_replace, and
rewrites handoff_context; the person appends to domain_knowledge with plain
``git commit``. Tokens are bracketed so that no line is part of another.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import gitmem


def agent(store: str, name: str, seconds: float) -> None:
    rnd = random.Random(name)
    end = time.monotonic() + seconds
    todo: list[str] = []
    k = 0
    with gitmem.Client(store) as client:
        memory = client.agents.memory("worker")
        while time.monotonic() < end:
            roll = rnd.random()
            if roll < 0.65 or not todo:
                text = f"[{name}:{k}] todo"
                k += 1
                memory.memory_insert("task_queue", text)
                todo.append(text)
                print(f"insert {text}", flush=True)
            elif roll < 0.9:
                old = todo.pop(rnd.randrange(len(todo)))
                new = old.replace(" todo", " done")
                memory.memory_replace("task_queue", old, new)
                print(f"replace {old}\t{new}", flush=True)
            else:
                text = f"handoff from {name} #{k}"
                k += 1
                memory.memory_rethink("handoff_context", text)
                print(f"rethink {text}", flush=True)
            time.sleep(rnd.uniform(0, 0.02))


def sync(store: str, name: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    with gitmem.Client(store) as client:
        while time.monotonic() < end:
            start = time.monotonic()
            try:
                client.sync()
                outcome = "ok"
            except gitmem.ConflictError as e:
                outcome = "conflict " + str(e).split("\n")[0]
            except gitmem.GitmemError as e:
                outcome = "error " + str(e).split("\n")[0]
            except Exception as e:  # counted as a failure by the soak, not hidden
                outcome = f"error internal {type(e).__name__}: {e}"
            print(f"sync {outcome}\t{time.monotonic() - start:.4f}", flush=True)
            time.sleep(0.05)


def person(store: str, name: str, seconds: float) -> None:
    """A person appending to a block nobody else writes, with plain git."""
    end = time.monotonic() + seconds
    path = Path(store) / "blocks/domain_knowledge.md"
    k = 0
    while time.monotonic() < end:
        text = f"[{name}:person:{k}] note"
        k += 1
        with path.open("a") as f:
            f.write(text + "\n")
        done = subprocess.run(
            ["git", "commit", "-q", "-m", f"note {k}", "blocks/domain_knowledge.md"],
            cwd=store,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            print(f"person {text}", flush=True)
        else:
            # Not acknowledged: take the line back out so it is not committed later.
            lines = path.read_text().split("\n")
            path.write_text("\n".join(line for line in lines if line != text))
        time.sleep(0.2)


def main() -> None:
    store, kind, name, seconds = sys.argv[1:]
    {"agent": agent, "sync": sync, "person": person}[kind](store, name, float(seconds))


if __name__ == "__main__":
    main()
