"""A writer process for the concurrency tests.

    python writer.py STORE insert AGENT LABEL PREFIX COUNT   (COUNT -1: until killed)
    python writer.py STORE cas rethink|update AGENT BLOCK PREFIX COUNT
    python writer.py STORE toggle AGENT BLOCK COUNT

Prints one line per acknowledged operation (the call returned), flushed at
once, so a test that kills the process knows exactly which writes it was told
had landed. ``cas`` appends a line to the block with compare-and-swap
(``if_version``), retrying on ConflictError, and ends with ``conflicts N``.
With GITMEM_TEST_GO set, waits for that file to exist before the first write,
so that all writers start together.
"""

from __future__ import annotations

import itertools
import os
import sys
import time

import gitmem


def insert(client: gitmem.Client, agent: str, label: str, prefix: str, count: str) -> None:
    memory = client.agents.memory(agent)
    n = int(count)
    for k in itertools.count() if n < 0 else range(n):
        memory.memory_insert(label, f"{prefix}-{k}")
        print(f"{prefix}-{k}", flush=True)


def cas(
    client: gitmem.Client, mode: str, agent: str, block_id: str, prefix: str, count: str
) -> None:
    memory = client.agents.memory(agent)
    conflicts = 0
    for k in range(int(count)):
        while True:
            block = client.blocks.retrieve(block_id)
            new = f"{block.value}\n{prefix}-{k}" if block.value else f"{prefix}-{k}"
            try:
                if mode == "rethink":
                    memory.memory_rethink(block.label, new, if_version=block.version)
                else:
                    client.blocks.update(block_id, value=new, if_version=block.version)
                break
            except gitmem.ConflictError:
                conflicts += 1
        print(f"{prefix}-{k}", flush=True)
    print(f"conflicts {conflicts}", flush=True)


def toggle(client: gitmem.Client, agent: str, block_id: str, count: str) -> None:
    for _ in range(int(count)):
        client.agents.blocks.attach(block_id, agent_id=agent)
        print("attach", flush=True)
        client.agents.blocks.detach(block_id, agent_id=agent)
        print("detach", flush=True)


def main() -> None:
    store, kind, *args = sys.argv[1:]
    go = os.environ.get("GITMEM_TEST_GO")
    with gitmem.Client(store) as client:
        while go and not os.path.exists(go):
            time.sleep(0.005)
        if kind == "insert":
            insert(client, *args)
        elif kind == "cas":
            cas(client, *args)
        elif kind == "toggle":
            toggle(client, *args)
        else:
            sys.exit(f"unknown writer {kind!r}")


if __name__ == "__main__":
    main()
