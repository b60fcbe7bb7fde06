"""A bounded soak: three deployments through a bare hub, each with an agent
process writing and a process running ``gitmem sync`` in a loop, and a person
committing with plain git in one of them. Afterwards every acknowledged write
is present exactly once everywhere, heads are equal and every store is sound."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import gitmem
from gitmem.ops.check import check_store
from tests.conftest import assert_clean, git

pytestmark = pytest.mark.slow

AGENT = Path(__file__).with_name("deployment_agent.py")
SECONDS = 6


def start(store: Path, kind: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(AGENT), str(store), kind, name, str(SECONDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_three_deployments_lose_nothing_and_converge(tmp_path: Path, hub: Path) -> None:
    stores = {}
    for name in "abc":
        gitmem.Client.clone(str(hub), tmp_path / name).close()
        stores[name] = tmp_path / name

    procs = [start(stores[n], kind, n) for n in "abc" for kind in ("agent", "sync")]
    procs.append(start(stores["a"], "person", "a"))
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=SECONDS * 20)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "internal error" not in err
        outputs.append(out.splitlines())
    acked = [line for out in outputs for line in out]
    syncs = [line for line in acked if line.startswith("sync ")]
    assert [s for s in syncs if s.startswith("sync error")] == []
    assert any(s.startswith("sync ok") for s in syncs)

    clients = [gitmem.Client(stores[n]) for n in "abc"]
    try:
        for _ in range(2):  # two quiet rounds, as the design promises suffice
            for client in clients:
                client.sync()
        heads = {git(c.path, "rev-parse", "HEAD").strip() for c in clients}
        assert len(heads) == 1
        for client in clients:
            assert_clean(client.path)
            assert check_store(client.path).problems == []
        queue = Counter(clients[0].blocks.retrieve("task_queue").value.split("\n"))
        inserted = [line.split(" ", 1)[1] for line in acked if line.startswith("insert ")]
        replaced = dict(
            line.split(" ", 1)[1].split("\t") for line in acked if line.startswith("replace ")
        )
        assert len(inserted) > 20
        for text in inserted:
            expected = replaced.get(text, text)
            assert queue[expected] == 1, f"{expected!r} is there {queue[expected]} times"
            if text in replaced:
                assert queue[text] == 0
        rethinks = [line.split(" ", 1)[1] for line in acked if line.startswith("rethink ")]
        if rethinks:
            assert clients[0].blocks.retrieve("handoff_context").value in rethinks
        notes = Counter(clients[0].blocks.retrieve("domain_knowledge").value.split("\n"))
        for line in acked:
            if line.startswith("person "):
                assert notes[line.split(" ", 1)[1]] == 1
    finally:
        for client in clients:
            client.close()
