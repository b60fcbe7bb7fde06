"""Concurrent memory_insert over HTTP (gitmem serve) beside the local Python API.

    python bench/serve.py [--seconds 5] [--clients 1,8,32]

For each number of clients, side by side in one run:

- http: a ``gitmem serve`` process on loopback; each client (an asyncio task
  with its own keep-alive connection) calls ``POST /v1/agents/A/tools/
  memory_insert/run`` on a block shared by all, one unique line per call,
  waiting for each answer before the next, for ``--seconds``.
- local: as many threads in this process, sharing one ``gitmem.Client``,
  calling ``memory_insert`` on another shared block for the same time.

Reported: acknowledged inserts per second, latency p50/p99 (ms), and lost
inserts: acknowledged lines missing from the block at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

import gitmem

LIMIT = 1_000_000


def _setup(store: Path, rounds: list[int]) -> None:
    with gitmem.Client.init(store) as client:
        for n in rounds:
            for mode in ("http", "local"):
                client.blocks.create(label=f"{mode}-{n}", limit=LIMIT)
        for i in range(max(rounds)):
            labels = [f"{mode}-{n}" for n in rounds for mode in ("http", "local")]
            client.agents.create(name=f"agent-{i}", block_ids=labels)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(store: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    serve = [sys.executable, "-m", "gitmem", "serve", "--log-level", "warning"]
    proc = subprocess.Popen([*serve, "-C", str(store), "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/v1/health/", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gitmem serve did not start")


async def _http_round(url: str, n: int, seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    acked: list[str] = []
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        path = f"/v1/agents/agent-{i}/tools/memory_insert/run"
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            k = 0
            while time.monotonic() < stop:
                line = f"client {i} line {k}"
                args = {"label": f"http-{n}", "new_string": line}
                start = time.perf_counter()
                answer = await http.post(path, json={"args": args})
                if answer.status_code == 200 and answer.json()["status"] == "success":
                    latencies.append(time.perf_counter() - start)
                    acked.append(line)
                k += 1

    await asyncio.gather(*(client(i) for i in range(n)))
    return latencies, acked


def _local_round(store: Path, n: int, seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    acked: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    with gitmem.Client(store) as client:

        def writer(i: int) -> None:
            memory = client.agents.memory(f"agent-{i}")
            k = 0
            while time.monotonic() < stop:
                line = f"writer {i} line {k}"
                start = time.perf_counter()
                memory.memory_insert(f"local-{n}", line)
                with lock:
                    latencies.append(time.perf_counter() - start)
                    acked.append(line)
                k += 1

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return latencies, acked


def _row(mode: str, n: int, seconds: float, latencies: list[float], lost: int) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms) if ms else float("nan")
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else float("nan")
    rate = len(ms) / seconds
    return f"| {mode:5} | {n:7} | {rate:7.1f} | {p50:7.1f} | {p99:7.1f} | {lost:4} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,8,32")
    args = parser.parse_args()
    rounds = [int(n) for n in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mem"
        _setup(store, rounds)
        proc, url = _start(store)
        rows = []
        try:
            for n in rounds:
                for mode in ("http", "local"):
                    if mode == "http":
                        latencies, acked = asyncio.run(_http_round(url, n, args.seconds))
                    else:
                        latencies, acked = _local_round(store, n, args.seconds)
                    with gitmem.Client(store) as client:
                        there = set(client.blocks.retrieve(f"{mode}-{n}").value.split("\n"))
                    lost = sum(1 for line in acked if line not in there)
                    rows.append(_row(mode, n, args.seconds, latencies, lost))
        finally:
            proc.terminate()
            proc.wait()
    print(f"memory_insert for {args.seconds:g} s per row, one shared block per row\n")
    print("| mode  | clients |   ops/s | p50 ms  | p99 ms  | lost |")
    print("|-------|---------|---------|---------|---------|------|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
