"""Block history at scale: `blocks log` and `blocks blame` of one block with 5,000
commits of history, in a store of 1,000 blocks and 50,000 commits, side by side
with `git log --follow` and `git blame` on the same store in the same run.

    python bench/history.py [--repeat N] [--commits 50000] [--every 10] [--blocks 1000]

The store is made once with `git fast-import` (seconds, not 50,000 gitmem
operations) and cached under the temp directory. Prints a Markdown table
(seconds, medians of N runs).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import gitmem

TARGET = "organization"
AGENTS = [f"agent-{i:02}" for i in range(8)]
OPS = ["memory_insert", "memory_replace", "memory_rethink"]
START = 1_700_000_000  # a fixed clock: one commit a minute from here
FRONT = "---\nlabel: {label}\ndescription: ''\nlimit: 20000\nread_only: false\n---\n"


def block_file(label: str, lines: list[str]) -> bytes:
    return (FRONT.format(label=label) + "".join(line + "\n" for line in lines)).encode()


def evolve(rng: random.Random, lines: list[str], n: int) -> tuple[str, list[str]]:
    """One memory operation on a value: mostly appends, some edits, a trim when long."""
    if len(lines) > 150:
        return "memory_rethink", lines[-100:]
    roll = rng.random()
    new = list(lines)
    if roll < 0.6 or not lines:
        new.append(f"[{n}] note {rng.randrange(10**6)} about the customer and the plan")
        return "memory_insert", new
    i = rng.randrange(len(new))
    if roll < 0.85:
        new[i] = f"[{n}] revised line {rng.randrange(10**6)}"
        return "memory_replace", new
    new.insert(i, f"[{n}] inserted line {rng.randrange(10**6)}")
    return "memory_insert", new


def fast_import_stream(commits: int, every: int, blocks: int) -> Iterator[bytes]:
    rng = random.Random(7)
    names = [TARGET] + [f"note-{i:04}" for i in range(1, blocks)]
    values: dict[str, list[str]] = {name: [f"{name} line {j}" for j in range(5)] for name in names}

    def data(payload: bytes) -> bytes:
        return b"data %d\n%s\n" % (len(payload), payload)

    def commit(n: int, who: str, message: str, files: dict[str, bytes]) -> bytes:
        stamp = b"%s <%s> %d +0000" % (
            who.encode(),
            f"{who}@agents.gitmem".encode(),
            START + n * 60,
        )
        out = [b"commit refs/heads/main\nmark :%d\n" % (n + 1), b"author " + stamp + b"\n"]
        out += [b"committer " + stamp + b"\n", data(message.encode())]
        if n > 0:
            out.append(b"from :%d\n" % n)
        out += [
            b"M 100644 inline %s\n%s" % (path.encode(), data(body)) for path, body in files.items()
        ]
        return b"".join(out)

    first = {"gitmem.yaml": b"format: 1\ndefault_limit: 20000\n"}
    first[".gitattributes"] = b"blocks/**/*.md merge=gitmem\nagents/*.yaml merge=gitmem\n"
    for name in names:
        first[f"blocks/{name}.md"] = block_file(name, values[name])
    for agent in AGENTS:
        first[f"agents/{agent}.yaml"] = (
            f"name: {agent}\ndescription: ''\nmodel: null\nblocks:\n- {TARGET}\nmetadata: {{}}\n"
        ).encode()
    yield commit(0, "gitmem", "init: mem\n\nGitmem-Op: init\n", first)
    for n in range(1, commits):
        name = TARGET if n % every == 0 else names[rng.randrange(1, blocks)]
        op, values[name] = evolve(rng, values[name], n)
        agent = rng.choice(AGENTS)
        message = f"{op}: {name}\n\nGitmem-Op: {op}\nGitmem-Agent: {agent}\nGitmem-Block: {name}\n"
        yield commit(n, agent, message, {f"blocks/{name}.md": block_file(name, values[name])})


def make_store(root: Path, commits: int, every: int, blocks: int) -> Path:
    """The benchmark store, built once per shape and reused from the temp directory."""
    store = root / f"history-{commits}-{every}-{blocks}"
    if (store / ".git" / "gitmem-bench-done").exists():
        return store
    shutil.rmtree(store, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(store)], check=True)
    start = time.perf_counter()
    importer = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=store, stdin=subprocess.PIPE)
    assert importer.stdin is not None
    for chunk in fast_import_stream(commits, every, blocks):
        importer.stdin.write(chunk)
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=store, check=True)
    (store / ".git" / "gitmem-bench-done").write_text("")
    print(f"built {store} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return store


def make_loose(packed: Path) -> Path:
    """The same store with every object loose, as gitmem's own commits leave them
    (until someone runs ``git gc``). About 2 GB for the default shape."""
    store = packed.with_name(packed.name + "-loose")
    if (store / ".git" / "gitmem-bench-done").exists():
        return store
    shutil.rmtree(store, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(store)], check=True)
    for pack in (packed / ".git/objects/pack").glob("*.pack"):
        with pack.open("rb") as f:
            subprocess.run(["git", "unpack-objects", "-q"], cwd=store, stdin=f, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=packed, check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(["git", "update-ref", "refs/heads/main", head], cwd=store, check=True)
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=store, check=True)
    (store / ".git" / "gitmem-bench-done").write_text("")
    return store


def median_s(step: Callable[[], object], repeat: int, before: Callable[[], object] = str) -> float:
    times = []
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(store: Path, repeat: int, cold_repeat: int) -> list[tuple[str, ...]]:
    path = f"blocks/{TARGET}.md"
    index = store / ".git/gitmem/history-index"
    graph = store / ".git/objects/info/commit-graph"

    def forget() -> None:
        index.unlink(missing_ok=True)

    def git(*cmd: str, graph_on: bool = False) -> Callable[[], object]:
        use = "true" if graph_on else "false"
        full = ["git", "-c", f"core.commitGraph={use}", *cmd]
        return lambda: subprocess.run(full, cwd=store, check=True, capture_output=True)

    def cli(*cmd: str) -> Callable[[], object]:
        full = [sys.executable, "-m", "gitmem", "-C", str(store), *cmd]
        return lambda: subprocess.run(full, check=True, capture_output=True)

    def cold(query: Callable[[gitmem.Client], object]) -> Callable[[], object]:
        def step() -> None:
            with gitmem.Client(store) as client:
                query(client)

        return step

    if not graph.exists():  # git's own answer to this problem, for the last column
        subprocess.run(
            ["git", "commit-graph", "write", "--reachable", "--changed-paths"],
            cwd=store,
            check=True,
        )

    def block_log(client: gitmem.Client) -> object:
        return client.blocks.history(TARGET)

    def blame(client: gitmem.Client) -> object:
        return client.blocks.blame(TARGET)

    def agent_log(client: gitmem.Client) -> object:
        return client.history(agent="agent-03")

    git_log = ("log", "--follow", "--format=%H %an %at %s", "--", path)
    git_blame = ("blame", "--porcelain", "--", path)
    git_agent = ("log", "--author=agent-03", "--format=%H %an %at %s")
    rows: list[tuple[str, ...]] = []
    for name, query, cmd, plain in [
        ("blocks log", block_log, ("blocks", "log", TARGET), git_log),
        ("blocks blame", blame, ("blocks", "blame", TARGET), git_blame),
        ("log --agent (whole store)", agent_log, ("log", "--agent", "agent-03"), git_agent),
    ]:
        first = median_s(cold(query), cold_repeat, before=forget)
        cold(query)()  # leaves the index in place for the rest
        with gitmem.Client(store) as client:
            query(client)
            warm = median_s(partial(query, client), repeat)
        rows.append(
            (
                name,
                f"{first:.2f} s",
                f"{warm:.2f} s",
                f"{median_s(cli(*cmd), repeat):.2f} s",
                f"{median_s(git(*plain), repeat):.2f} s",
                f"{median_s(git(*plain, graph_on=True), repeat):.2f} s",
            )
        )
    return rows


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cold-repeat", type=int, default=3)
    parser.add_argument("--commits", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=10, help="every Nth commit edits the block")
    parser.add_argument("--blocks", type=int, default=1_000)
    parser.add_argument("--loose", action="store_true", help="also measure with loose objects")
    args = parser.parse_args(argv)
    packed = make_store(Path(tempfile.gettempdir()), args.commits, args.every, args.blocks)
    stores = [("packed (git fast-import)", packed)]
    if args.loose:
        stores.append(("loose objects", make_loose(packed)))
    print(
        f"{args.commits:,} commits, {args.blocks:,} blocks in one directory, "
        f"blocks/{TARGET}.md changed by every {args.every}th commit; "
        f"medians of {args.repeat} runs ({args.cold_repeat} for cold)\n"
    )
    print(
        "| store | operation | gitmem API, no index (first query) | gitmem API | gitmem CLI "
        "| git CLI | git CLI + commit-graph |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, store in stores:
        for row in measure(store, args.repeat, args.cold_repeat):
            print(f"| {label} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    run()
