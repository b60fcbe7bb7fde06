"""``gitmem demo``: the supervisor/worker story, played through the real API."""

from __future__ import annotations

import multiprocessing
import queue
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gitmem.client import Client
from gitmem.errors import ReadOnlyError

if TYPE_CHECKING:
    from gitmem import Event

Say = Callable[[str], None]
WRITERS = 4
INSERTS = 10


def _insert_many(path: str, agent: str, writer: int) -> int:
    with Client(path) as client:
        memory = client.agents.memory(agent)
        for i in range(INSERTS):
            memory.memory_insert(
                "domain_knowledge", f"fact {writer}.{i} checked by writer {writer}"
            )
    return INSERTS


def run(say: Say, keep: Path | None = None) -> None:
    """Play the story on a new store in ``keep`` (or a temporary directory)."""
    if keep is not None:
        _play(say, keep)
        return
    with tempfile.TemporaryDirectory(prefix="gitmem-demo-") as tmp:
        _play(say, Path(tmp) / "memory")


def _section(say: Say, title: str) -> None:
    say(f"\n== {title} ==")


def _play(say: Say, root: Path) -> None:
    with Client.init(root, sample=True) as client:
        _section(say, f"1. A store made from sample_repo/ in {client.path}")
        for agent in client.agents.list():
            say(f"agent {agent.id}: {', '.join(agent.block_ids)}")
        say(
            "shared: "
            + ", ".join(a.id for a in client.blocks.agents.list("organization"))
            + " have 'organization'"
        )

        supervisor = client.agents.memory("supervisor")
        worker = client.agents.memory("worker")

        _section(say, "2. The supervisor assigns a task; a watcher tells the worker")
        told: queue.Queue[Event] = queue.Queue()
        with client.watch(agent_id="worker").start(told.put):
            say(supervisor.memory_insert("task_queue", "[todo] T-2: Call Dana about ticket 4411"))
            event = told.get(timeout=60)
        say(f"worker was told: {event.line()}")
        say(event.diff)

        _section(say, "3. The worker reads the shared block and reports (memory_replace)")
        say("worker sees task_queue:\n" + worker.block("task_queue").value)
        say(worker.memory_replace("task_queue", "[todo] T-2", "[done] T-2"))
        say("supervisor sees task_queue:\n" + supervisor.block("task_queue").value)

        _section(say, "4. system_config is read-only for agents")
        try:
            worker.memory_rethink("system_config", "max_refund_eur: 5000")
        except ReadOnlyError as e:
            say(f"worker's memory_rethink refused: {e}")

        _section(say, "5. What the worker's prompt holds (compile)")
        say(worker.compile())

        _section(say, f"6. {WRITERS} processes insert {INSERTS} facts each, at the same time")
        before = len(worker.block("domain_knowledge").value.split("\n"))
        started = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(WRITERS) as pool:
            args = [(str(client.path), "worker", w) for w in range(WRITERS)]
            done = sum(pool.starmap(_insert_many, args))
        lines = worker.block("domain_knowledge").value.split("\n")
        took = time.perf_counter() - started
        landed = sum(line.startswith("fact ") for line in lines)
        say(
            f"{done} inserts acknowledged in {took:.1f} s; domain_knowledge went from {before} "
            f"to {len(lines)} lines; {landed} of {done} facts are there"
        )

        _section(say, "7. History: one commit per operation, by whoever made it")
        _history(say, client)


def _history(say: Say, client: Client) -> None:
    """Oldest first; runs of the same operation by the same author fold into one line."""
    runs: list[tuple[str, int, str]] = []
    for entry in reversed(client.history()):
        who = entry.agent or entry.author.split(" <")[0]
        line = f"{entry.op or '-':15} {who:12} {entry.subject}"
        if runs and runs[-1][0] == line:
            runs[-1] = (line, runs[-1][1] + 1, entry.commit)
        else:
            runs.append((line, 1, entry.commit))
    for line, count, commit in runs:
        times = f"  (x{count})" if count > 1 else ""
        say(f"{commit[:10]}  {line}{times}")
