"""Mixed scenario: 3 clones through a bare hub; agents writing everywhere, sync
loops racing, in clone a also a person with plain git, an editor saving the
organization block (rename and truncate+write, from a stale buffer half the time)
while `gitmem watch` commits saves, and an agent inserting into that same block."""

import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import gitmem

AGENT = str(Path(__file__).resolve().parent.parent / "tests" / "deployment_agent.py")
SECONDS = 15
work = Path(tempfile.mkdtemp(prefix="mixed-"))
hub = work / "hub.git"
subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(hub)], check=True)
with gitmem.Client.init(work / "seed", sample=True) as s:
    s.add_remote("origin", str(hub))
    s.push()
for n in "abc":
    gitmem.Client.clone(str(hub), work / n).close()


def py(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


ORGAGENT = r"""
import sys, time, gitmem
end = time.monotonic() + float(sys.argv[2])
with gitmem.Client(sys.argv[1]) as c:
    m = c.agents.memory("worker"); k = 0
    while time.monotonic() < end:
        t = f"[org-agent:{k}] fact"; k += 1
        m.memory_insert("organization", t); print("insert", t, flush=True); time.sleep(0.05)
"""
EDITOR = r"""
import os, random, sys, time
path = sys.argv[1] + "/blocks/organization.md"; end = time.monotonic() + float(sys.argv[2])
k = 0; rnd = random.Random(1)
while time.monotonic() < end:
    buf = open(path).read()          # the editor loads the file
    time.sleep(rnd.uniform(0.01, 0.2))  # the person types (agents write meanwhile)
    t = f"[editor:{k}] note"; k += 1
    text = buf if buf.endswith("\n") else buf + "\n"
    text += t + "\n"
    if rnd.random() < 0.5:
        tmp = path + ".tmp-save"; open(tmp, "w").write(text); os.replace(tmp, path)
    else:
        with open(path, "w") as f: f.write(text)
    print("save", t, flush=True)
    time.sleep(rnd.uniform(0.05, 0.3))
"""
procs = []
for n in "abc":
    for kind in ("agent", "sync"):
        procs.append(
            (
                n,
                kind,
                subprocess.Popen(
                    [sys.executable, AGENT, str(work / n), kind, n, str(SECONDS)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
procs.append(
    (
        "a",
        "person",
        subprocess.Popen(
            [sys.executable, AGENT, str(work / "a"), "person", "a", str(SECONDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    )
)
procs.append(("a", "orgagent", py(ORGAGENT, str(work / "a"), str(SECONDS))))
watch = subprocess.Popen(
    [sys.executable, "-m", "gitmem", "-C", str(work / "a"), "watch", "--json"],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
    text=True,
)
time.sleep(1)
procs.append(("a", "editor", py(EDITOR, str(work / "a"), str(SECONDS))))
lines = []
for n, kind, p in procs:
    out, err = p.communicate(timeout=600)
    if p.returncode or "Traceback" in err:
        print("PROC FAILED", n, kind, p.returncode, err[-800:])
    lines += out.splitlines()
time.sleep(3)  # let the watcher commit the last save
watch.terminate()
_, werr = watch.communicate(timeout=60)
print("watch stderr:", werr.strip()[-500:] or "(none)")
clients = [gitmem.Client(work / n) for n in "abc"]
for _round in range(2):
    for c in clients:
        c.sync()
heads = {
    subprocess.run(["git", "rev-parse", "HEAD"], cwd=c.path, capture_output=True, text=True).stdout
    for c in clients
}
syncs = [line for line in lines if line.startswith("sync ")]
print("conflict lines", [s[:90] for s in syncs if "conflict" in s][:4])
print(
    "syncs",
    len(syncs),
    "errors",
    [s for s in syncs if "error" in s][:3],
    "conflicts",
    sum("conflict" in s for s in syncs),
)
missing = 0
acked = 0
for c in clients:
    q = Counter(c.blocks.retrieve("task_queue").value.split("\n"))
    org = Counter(c.blocks.retrieve("organization").value.split("\n"))
    notes = Counter(c.blocks.retrieve("domain_knowledge").value.split("\n"))
    repl = dict(line.split(" ", 1)[1].split("\t") for line in lines if line.startswith("replace "))
    for line in lines:
        kind, _, t = line.partition(" ")
        if kind == "insert" and t.startswith("[org-agent"):
            acked += c is clients[0]
            missing += org[t] != 1
        elif kind == "insert":
            acked += c is clients[0]
            e = repl.get(t, t)
            missing += q[e] != 1 or (t in repl and q[t] != 0)
        elif kind == "save":
            acked += c is clients[0]
            missing += org[t] != 1
        elif kind == "person":
            acked += c is clients[0]
            missing += notes[t] != 1
    st = subprocess.run(
        ["git", "status", "--porcelain"], cwd=c.path, capture_output=True, text=True
    ).stdout
    fsck = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=c.path, capture_output=True, text=True
    )
    print(c.path.name, "status:", repr(st[:200]), "fsck rc", fsck.returncode)
kinds = Counter(line.split(" ", 1)[0] for line in lines)
print(
    "acknowledged",
    acked,
    dict(kinds),
    "missing (summed over 3 clones)",
    missing,
    "heads equal",
    len(heads) == 1,
)
