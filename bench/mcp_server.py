"""MCP round trips: a `memory_insert` tool call through the official MCP client to a
`gitmem mcp --agent worker` process, p50 and p99, next to the same insert through
the Python API in this process, in one run; also a read (`memory_view`) through
MCP, and how long after another agent's insert into a shared block the worker's
client hears `notifications/resources/updated`.

    python bench/mcp_server.py [--repeat 200]

(Not bench/mcp.py: run as a script, that name would hide the mcp package.)

The store is the sample memory (`gitmem init --sample`). Prints a Markdown table
(milliseconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.to_thread
from mcp import Client, MCPDeprecationWarning, StdioServerParameters, types
from mcp.client.session import IncomingMessage

import gitmem

WAIT = 30.0


def percentiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def timed(repeat: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        await step(i)
        times.append(time.perf_counter() - started)
    return times


async def over_mcp(root: Path, repeat: int, legacy: bool) -> dict[str, list[float]]:
    heard: list[float] = []  # when each notification came (stamped on arrival)

    async def handler(message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            heard.append(time.perf_counter())

    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "gitmem", "-C", str(root), "mcp", "--agent", "worker"],
        env=dict(os.environ),
    )
    era = "handshake era" if legacy else "2026-07-28"
    result: dict[str, list[float]] = {}
    mode = "legacy" if legacy else "auto"
    async with Client(server, mode=mode, message_handler=handler) as client:

        async def insert(i: int) -> None:
            args = {"label": "handoff_context", "new_string": f"note {i}"}
            done = await client.call_tool("memory_insert", args)
            assert not done.is_error, done

        async def view(i: int) -> None:
            await client.call_tool("memory_view", {"label": "handoff_context"})

        await insert(-1)  # warm-up
        result[f"memory_insert over MCP ({era})"] = await timed(repeat, insert)
        result[f"memory_view over MCP ({era})"] = await timed(repeat, view)
        if legacy:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.subscribe_resource("memory://blocks/organization")
            result["another agent's insert -> resources/updated"] = await notified(
                root, repeat, heard
            )
    return result


async def notified(root: Path, repeat: int, heard: list[float]) -> list[float]:
    """From the start of the supervisor's insert (the API, in a thread of this
    process) to the worker's client hearing of it."""
    times = []
    with gitmem.Client(root) as store:
        memory = store.agents.memory("supervisor")
        for i in range(repeat):
            heard.clear()
            started = time.perf_counter()
            await anyio.to_thread.run_sync(memory.memory_insert, "organization", f"fact {i}")
            with anyio.fail_after(WAIT):
                while not heard:
                    await anyio.sleep(0.0005)
            times.append(heard[0] - started)
    return times


def over_api(root: Path, repeat: int) -> list[float]:
    times = []
    with gitmem.Client(root) as store:
        memory = store.agents.memory("worker")
        memory.memory_insert("handoff_context", "warm-up")
        for i in range(repeat):
            started = time.perf_counter()
            memory.memory_insert("handoff_context", f"api {i}")
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gitmem-bench-") as tmp:
        root = Path(tmp) / "mem"
        gitmem.Client.init(root, sample=True).close()
        rows["memory_insert, Python API (this process)"] = over_api(root, args.repeat)
        for legacy in (True, False):
            rows.update(anyio.run(over_mcp, root, args.repeat, legacy))
    api = statistics.median(rows["memory_insert, Python API (this process)"])
    print(f"| operation (ms, {args.repeat} each) | p50 | p99 | p50 / API insert p50 |")
    print("|---|---:|---:|---:|")
    for row, times in rows.items():
        p50, p99 = percentiles(times)
        print(f"| {row} | {p50:.1f} | {p99:.1f} | {statistics.median(times) / api:.2f} |")


if __name__ == "__main__":
    main()
