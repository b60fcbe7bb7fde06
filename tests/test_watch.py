"""`gitmem watch` as a real subprocess on a real store: commits by other processes,
by the git binary and by editors' saves become events for the attached agents.

Nothing here sleeps to synchronise: every wait is for a specific line, with a
generous timeout. That a change produced *no* event is shown by a later change
whose event comes next (events come in commit order)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import gitmem
from gitmem.ops.events import Event, value_diff
from tests.conftest import PERSON, assert_clean, git
from tests.vim import Vim, needs_vim

WAIT = 60.0  # seconds; only a broken watcher waits this long
ME = f"{PERSON[0]} <{PERSON[1]}>"
SUPERVISOR = "supervisor <supervisor@agents.gitmem>"
ORG = "blocks/organization.md"
TASK_1 = "[done] T-1: Summarise last week's support tickets"
DESCRIPTION = (
    '\'Tasks the supervisor assigns, one per line as "[status] id: task". Workers update '
    "the status of their tasks; only the supervisor adds or removes tasks.'"
)


class Watch:
    """A `gitmem watch` process whose output lines are read as they come."""

    def __init__(
        self, store: Path, *args: str, env: dict[str, str] | None = None, first: str = ""
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gitmem", "-C", str(store), "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.out: queue.Queue[str | None] = queue.Queue()
        self.err: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=_read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=_read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        try:
            if first:
                self.said(first)
            self.said(rf"watching {re.escape(str(store))} from [0-9a-f]{{10}}")
        except BaseException:
            self.kill()
            raise

    def line(self) -> str:
        try:
            line = self.out.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("no event came") from None
        assert line is not None, "the watcher stopped"
        return line

    def event(self) -> dict[str, object]:
        event = json.loads(self.line())
        assert isinstance(event, dict)
        return event

    def events(self, n: int) -> list[dict[str, object]]:
        return [self.event() for _ in range(n)]

    def said(self, pattern: str) -> str:
        """Wait for a stderr line matching ``pattern``; any other line is a failure."""
        try:
            line = self.err.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"stderr never said {pattern!r}") from None
        assert line is not None and re.fullmatch(pattern, line), line
        return line

    def stop(self, sig: int = signal.SIGTERM) -> tuple[list[str], list[str]]:
        """Stop it with ``sig``; it must exit 0. Returns what it printed that was not read."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=WAIT)
        self._close()
        assert code == 0
        return _drain(self.out), _drain(self.err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        for reader in self._readers:
            reader.join(timeout=WAIT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


def diff_of(event: dict[str, object]) -> str:
    diff = event["diff"]
    assert isinstance(diff, str)
    return diff


def _read(stream: Iterable[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def _drain(lines: queue.Queue[str | None]) -> list[str]:
    found = []
    while not lines.empty():
        line = lines.get()
        if line is not None:
            found.append(line)
    return found


@pytest.fixture
def watch() -> Iterator[type[Watch]]:
    started: list[Watch] = []

    class Started(Watch):
        def __init__(
            self, store: Path, *args: str, env: dict[str, str] | None = None, first: str = ""
        ) -> None:
            super().__init__(store, *args, env=env, first=first)
            started.append(self)

    yield Started
    for w in started:
        w.kill()


def rev(store: Path, spec: str = "HEAD") -> str:
    return git(store, "rev-parse", spec).strip()


def atomic_save(path: Path, text: str) -> None:
    """Save as most editors do: write a temp file next to it, rename it over."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, path)


# -- events for attached agents -------------------------------------------------


def test_an_insert_from_another_process_is_told_to_the_agent_with_op_and_author(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    w = watch(sample.path, "--json", "--agent", "worker")
    supervisor = sample.agents.memory("supervisor")  # this test process: not the watcher's
    supervisor.memory_insert("user_preferences", "Prefers e-mail.")  # the worker lacks it
    supervisor.memory_insert("task_queue", "[todo] T-2: Call Dana")

    event = w.event()

    assert event == {
        "kind": "updated",
        "agent": "worker",
        "block": "task_queue",
        "label": "task_queue",
        "commit": rev(sample.path),
        "parent": rev(sample.path, "HEAD~1"),
        "op": "memory_insert",
        "author": SUPERVISOR,
        "time": int(git(sample.path, "log", "-1", "--format=%at")),
        "diff": f"@@ -1 +1,2 @@\n {TASK_1}\n+[todo] T-2: Call Dana",
    }
    assert w.stop() == ([], [])


def test_without_agent_every_attached_agent_gets_one_readable_line(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    w = watch(sample.path)
    sample.blocks.update("organization", description="Who we are.")
    head = rev(sample.path)[:10]

    lines = [w.line(), w.line()]

    assert lines == [
        f"{head} supervisor: updated organization (organization) by {PERSON[0]}, update_block",
        f"{head} worker: updated organization (organization) by {PERSON[0]}, update_block",
    ]
    assert w.stop() == ([], [])


def test_detach_is_told_and_then_the_block_is_silent_for_that_agent(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    w = watch(sample.path, "--json", "--agent", "worker")
    sample.agents.blocks.detach("organization", agent_id="worker")
    detached = w.event()
    sample.blocks.update("organization", value="Acme, now without the worker.")
    sample.agents.memory("supervisor").memory_insert("task_queue", "[todo] T-2")

    after = w.event()

    assert (detached["kind"], detached["block"], detached["op"]) == (
        "detached",
        "organization",
        "detach",
    )
    assert (detached["diff"], detached["author"]) == ("", ME)
    assert (after["kind"], after["block"], after["commit"]) == (
        "updated",
        "task_queue",
        rev(sample.path),
    )
    assert w.stop() == ([], [])


def test_each_kind_of_event(sample: gitmem.Client, watch: type[Watch]) -> None:
    missing = "agent 'scout' does not exist \\(yet\\); watching for it"
    w = watch(sample.path, "--json", "--agent", "scout", first=missing)
    sample.agents.create(
        name="scout",
        memory_blocks=[{"label": "persona", "value": "I scout."}],
        block_ids=["organization"],
    )
    sample.agents.memory("scout").memory_replace("persona", "I scout.", "I scout ahead.")
    sample.blocks.delete("scout/persona", force=True)
    sample.agents.blocks.detach("organization", agent_id="scout")

    told = [(e["kind"], e["block"], e["op"], e["diff"]) for e in w.events(5)]

    assert told == [
        ("created", "scout/persona", "create_agent", "@@ -0,0 +1 @@\n+I scout."),
        ("attached", "organization", "create_agent", ""),
        ("updated", "scout/persona", "memory_replace", "@@ -1 +1 @@\n-I scout.\n+I scout ahead."),
        ("deleted", "scout/persona", "delete_block", "@@ -1 +0,0 @@\n-I scout ahead."),
        ("detached", "organization", "detach", ""),
    ]
    assert w.stop() == ([], [])


# -- files saved on disk ----------------------------------------------------------


def test_an_editor_save_of_a_shared_block_is_committed_and_announced(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    w = watch(sample.path, "--json", "--agent", "worker")
    text = (sample.path / ORG).read_text()
    atomic_save(sample.path / ORG, text.replace("08:00-18:00", "09:00-17:00"))

    event = w.event()

    assert (event["kind"], event["block"], event["op"], event["author"]) == (
        "updated",
        "organization",
        "commit",
        ME,
    )
    assert "+Acme Robotics builds warehouse robots. Support hours: 09:00-17:00" in diff_of(event)
    assert git(sample.path, "log", "-1", "--format=%an|%s") == f"{PERSON[0]}|commit: organization\n"
    assert "09:00-17:00" in sample.blocks.retrieve("organization").value
    assert w.stop() == ([], [])
    assert_clean(sample.path)


def test_a_detached_head_is_said_once_events_go_on_and_saves_wait_for_the_branch(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    store, handoff = sample.path, sample.path / "blocks/handoff_context.md"
    first = rev(store)
    sample.agents.memory("supervisor").memory_insert("task_queue", "[todo] T-2")
    w = watch(store, "--json", "--agent", "worker")

    git(store, "checkout", "-q", first)
    w.said(
        f"HEAD detached at {first[:7]}; agents write to main; "
        "files saved meanwhile are left to you, not committed"
    )
    atomic_save(handoff, handoff.read_text() + "Saved while detached.\n")
    sample.agents.memory("supervisor").memory_insert("organization", "Agent line")
    inserted = rev(store, "main")
    told = w.event()
    git(store, "checkout", "-q", "main")
    committed = w.event()

    assert (told["block"], told["op"], told["commit"]) == (
        "organization",
        "memory_insert",
        inserted,
    )
    assert (committed["block"], committed["op"], committed["author"]) == (
        "handoff_context",
        "commit",
        ME,
    )
    assert sample.blocks.retrieve("handoff_context").value.endswith("Saved while detached.")
    assert w.stop() == ([], [])
    assert_clean(store)


def test_an_invalid_save_is_reported_left_alone_and_committed_once_fixed(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    w = watch(sample.path, "--json", "--agent", "worker")
    before, good = rev(sample.path), (sample.path / ORG).read_text()
    bad = good.replace("read_only: false", "readonly: false")
    atomic_save(sample.path / ORG, bad)

    w.said(
        "blocks/organization.md:5: unknown key 'readonly' "
        "\\(allowed: label, description, limit, read_only, metadata\\)"
    )
    assert (rev(sample.path), (sample.path / ORG).read_text()) == (before, bad)

    atomic_save(sample.path / ORG, good.replace("Acme", "ACME"))
    assert w.event()["op"] == "commit"
    assert w.stop() == ([], [])
    assert_clean(sample.path)


def test_no_commit_only_reports_saves_and_still_tells_commits(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    w = watch(sample.path, "--json", "--agent", "worker", "--no-commit")
    before = rev(sample.path)
    (sample.path / ORG).write_text((sample.path / ORG).read_text() + "A person's note.\n")

    w.said("blocks/organization.md: modified; not committed \\(--no-commit\\)")
    assert rev(sample.path) == before
    sample.agents.memory("supervisor").memory_insert("task_queue", "[todo] T-2")
    assert w.event()["block"] == "task_queue"
    assert w.stop() == ([], [])
    assert git(sample.path, "status", "--porcelain") == f" M {ORG}\n"


def test_a_block_file_deleted_and_recreated(sample: gitmem.Client, watch: type[Watch]) -> None:
    w = watch(sample.path, "--json", "--agent", "worker")
    path = sample.path / "blocks/task_queue.md"
    text = path.read_text()
    path.unlink()

    w.said(
        "blocks/task_queue.md: deleted, but attached to supervisor, worker; "
        "detach it first \\(or restore the file\\)"
    )
    path.write_text(text + "[todo] T-2: Recreated\n")

    event = w.event()
    assert (event["kind"], event["block"], event["op"]) == ("updated", "task_queue", "commit")
    assert event["diff"] == f"@@ -1 +1,2 @@\n {TASK_1}\n+[todo] T-2: Recreated"
    assert w.stop() == ([], [])
    assert_clean(sample.path)


SAVER = """
import os, pathlib, random, re, sys, time
path, stop, reload = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == "1"
buffer = path.read_text()  # loaded once, never reloaded: autosave of an open buffer
rng = random.Random(9)

def save(i, text):
    if i % 2:
        with open(path, "r+") as f:  # truncate, then write
            f.truncate(0)
            f.write(text)
    else:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

i = 0
while not stop.exists():
    for _ in range(20):  # a burst of saves a few ms apart, then a pause about as
        i += 1           # long as the watcher waits for quiet: commits meet saves
        if reload:  # a script editing the file as it is now
            buffer = re.sub(r"Monday to Friday[^.]*[.]", "Monday to Friday.", path.read_text())
        save(i, buffer.replace("Monday to Friday.", f"Monday to Friday (draft {i})."))
        time.sleep(0.003)
    time.sleep(rng.uniform(0.05, 0.15))
save(0, buffer.replace("Monday to Friday.", "Monday to Friday (draft final)."))
"""

INSERTER = """
import sys, time, gitmem
with gitmem.Client(sys.argv[1]) as client:
    memory = client.agents.memory("worker")
    for i in range(int(sys.argv[2])):
        memory.memory_insert("organization", f"Agent line {i}.")
        print(i, flush=True)  # acknowledged
        time.sleep(0.01)
"""


@pytest.mark.slow
@pytest.mark.parametrize("reload", [False, True], ids=["buffer", "script"])
def test_rapid_saves_under_the_watcher_keep_every_acknowledged_insert(
    sample: gitmem.Client, watch: type[Watch], tmp_path: Path, reload: bool
) -> None:
    # Reproduction 9: an editor's autosave (a buffer loaded once), or a script
    # editing the file as it is, saves the block every few ms while the watcher
    # commits the saves and an agent inserts.
    w = watch(sample.path)
    stop = tmp_path / "stop"
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(sample.path / ORG), str(stop), str(int(reload))]
    )
    inserted = subprocess.run(
        [sys.executable, "-c", INSERTER, str(sample.path), "20"],
        capture_output=True,
        text=True,
        check=True,
        timeout=WAIT,
    )
    stop.touch()
    assert saver.wait(timeout=WAIT) == 0

    deadline = time.monotonic() + WAIT
    while "(draft final)" not in (value := sample.blocks.retrieve("organization").value):
        assert time.monotonic() < deadline, f"the last save was never committed: {_drain(w.err)}"
        time.sleep(0.05)
    w.stop()

    acknowledged = [f"Agent line {i}." for i in map(int, inserted.stdout.split())]
    assert len(acknowledged) == 20
    assert [line for line in value.split("\n") if line.startswith("Agent line")] == acknowledged
    assert value.startswith(
        "Acme Robotics builds warehouse robots. Support hours: 08:00-18:00 CET, "
        "Monday to Friday (draft final).\n"
    )
    git(sample.path, "fsck", "--strict", "--no-dangling")


@needs_vim
def test_a_block_open_in_vim_is_committed_when_saved_and_brought_up_to_date_when_vim_quits(
    sample: gitmem.Client, watch: type[Watch], tmp_path: Path
) -> None:
    # Reproduction 4, under the watcher.
    w = watch(sample.path, "--json", "--agent", "worker")
    path = sample.path / ORG
    before = path.read_bytes()
    edit = "%s/08:00-18:00/09:00-17:00/"
    with Vim(path, tmp_path, edit, "w", Vim.WAIT, "q") as vim:
        sample.agents.memory("supervisor").memory_insert("organization", "Agent line.")
        assert w.event()["op"] == "memory_insert"
        assert path.read_bytes() == before  # left to vim

        vim.go()  # the person saves and goes on editing
        assert w.event()["op"] == "commit"
        value = sample.blocks.retrieve("organization").value
        assert "09:00-17:00" in value and value.endswith("\nAgent line.")
        assert "Agent line." not in path.read_text()  # still as vim has it

        assert vim.wait() == 0
    deadline = time.monotonic() + WAIT
    while path.read_text() != git(sample.path, "show", f"HEAD:{ORG}"):
        assert time.monotonic() < deadline, "the file was not brought up to date"
        time.sleep(0.02)
    assert w.stop() == ([], [])
    assert_clean(sample.path)


def test_a_directory_moved_out_of_the_store_is_looked_at_as_a_whole(
    sample: gitmem.Client, watch: type[Watch], tmp_path: Path
) -> None:
    sample.blocks.create(label="a", id="notes/a")
    sample.blocks.create(label="b", id="notes/b")
    sample.agents.blocks.attach("notes/a", agent_id="worker")
    w = watch(sample.path, "--json", "--agent", "worker")
    os.rename(sample.path / "blocks/notes", tmp_path / "away")

    w.said(
        "blocks/notes/a.md: deleted, but attached to worker; "
        "detach it first \\(or restore the file\\)"
    )
    assert w.stop() == ([], [])
    assert git(sample.path, "log", "-1", "--format=%s") == "commit: notes/b\n"


# -- cursors, --exec, bursts --------------------------------------------------------


def test_a_restart_with_the_same_cursor_delivers_what_was_missed_in_order(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    store = sample.path
    w = watch(store, "--json", "--agent", "worker", "--cursor", "worker")
    assert w.stop(signal.SIGTERM) == ([], [])
    supervisor = sample.agents.memory("supervisor")
    supervisor.memory_insert("task_queue", "[todo] T-2")
    supervisor.memory_insert("user_preferences", "Prefers e-mail.")  # not the worker's
    supervisor.memory_insert("task_queue", "[todo] T-3")
    sample.blocks.update("organization", description="Who we are.")
    missed = git(store, "rev-list", "--reverse", "HEAD~4..HEAD").split()

    w = watch(store, "--json", "--agent", "worker", "--cursor", "worker")
    told = [(e["commit"], e["block"]) for e in w.events(3)]
    supervisor.memory_insert("task_queue", "[todo] T-4")
    live = w.event()

    assert told == [
        (missed[0], "task_queue"),
        (missed[2], "task_queue"),
        (missed[3], "organization"),
    ]
    assert (live["commit"], live["parent"]) == (rev(store), missed[3])
    assert w.stop(signal.SIGINT) == ([], [])
    assert (store / ".git/gitmem/cursors/worker").read_text() == rev(store) + "\n"


def test_exec_gets_each_event_and_a_failing_command_does_not_stop_the_watcher(
    sample: gitmem.Client, watch: type[Watch], tmp_path: Path
) -> None:
    log = tmp_path / "exec.log"
    command = (
        'echo "$GITMEM_KIND $GITMEM_AGENT $GITMEM_BLOCK $GITMEM_LABEL $GITMEM_OP '
        '$GITMEM_AUTHOR $GITMEM_COMMIT" >> "$LOG"; cat >> "$LOG"; echo >> "$LOG"; exit 3'
    )
    w = watch(sample.path, "--agent", "worker", "--exec", command, env={"LOG": str(log)})
    supervisor = sample.agents.memory("supervisor")
    commits = []
    for task in ("[todo] T-2", "[todo] T-3"):
        supervisor.memory_insert("task_queue", task)
        commits.append(rev(sample.path))
        line = w.line()
        w.said(f"--exec command exited with 3 for: {re.escape(line)}")

    logged = log.read_text().split("\n")
    said = f"updated worker task_queue task_queue memory_insert {SUPERVISOR} {commits[0]}"
    assert logged[0] == said
    assert json.loads(logged[1])["commit"] == commits[0]
    assert logged[3].endswith(commits[1])
    assert json.loads(logged[4])["diff"] == "@@ -2 +2,2 @@\n [todo] T-2\n+[todo] T-3"
    assert w.stop() == ([], [])


BURST = """
import sys, gitmem
with gitmem.Client(sys.argv[1]) as client:
    memory = client.agents.memory("supervisor")
    for i in range(100):
        memory.memory_insert("organization", f"fact {i}")
"""


@pytest.mark.slow
def test_a_burst_of_100_commits_is_100_events_per_attached_agent_in_order(
    sample: gitmem.Client, watch: type[Watch]
) -> None:
    store = sample.path
    start = rev(store)
    w = watch(store, "--json")
    subprocess.run([sys.executable, "-c", BURST, str(store)], check=True)
    commits = git(store, "rev-list", "--reverse", f"{start}..HEAD").split()

    events = w.events(200)

    assert len(commits) == 100  # the watcher committed nothing of its own
    for agent in ("supervisor", "worker"):
        mine = [e for e in events if e["agent"] == agent]
        assert [e["commit"] for e in mine] == commits
        assert {(e["kind"], e["block"], e["op"]) for e in mine} == {
            ("updated", "organization", "memory_insert")
        }
        assert [diff_of(e).rsplit("\n", 1)[1] for e in mine] == [f"+fact {i}" for i in range(100)]
    assert w.stop() == ([], [])
    assert_clean(store)


# -- the git binary: pull, merge, reset ---------------------------------------------


def test_a_pull_by_git_is_walked_commit_by_commit_a_merge_is_one_step_a_reset_is_said(
    sample: gitmem.Client, watch: type[Watch], tmp_path: Path
) -> None:
    store, other = sample.path, tmp_path / "other"
    git(tmp_path, "clone", "-q", str(store), str(other))
    with gitmem.Client(other) as there:
        for task in ("[todo] T-2", "[todo] T-3"):
            there.agents.memory("supervisor").memory_insert("task_queue", task)
    w = watch(store, "--json", "--agent", "worker")

    git(store, "pull", "-q", "--ff-only", str(other), "main")
    pulled = git(store, "rev-list", "--reverse", "HEAD~2..HEAD").split()
    fast = w.events(2)

    with gitmem.Client(other) as there:
        there.agents.memory("supervisor").memory_insert("domain_knowledge", "Fact from there.")
    sample.agents.memory("worker").memory_insert("handoff_context", "Note from here.")
    git(store, "pull", "-q", "--no-rebase", "--no-edit", str(other), "main")
    merged = w.events(2)

    git(store, "reset", "-q", "--hard", "HEAD~1")
    w.said(
        f"history was rewritten: {rev(store, 'ORIG_HEAD')[:10]} is not in the history of "
        f"{rev(store)[:10]}; telling the difference as one change \\(op 'rewrite'\\)"
    )
    undone = w.event()

    assert [(e["commit"], e["op"], e["author"]) for e in fast] == [
        (pulled[0], "memory_insert", SUPERVISOR),
        (pulled[1], "memory_insert", SUPERVISOR),
    ]
    assert [(e["block"], e["op"], e["author"]) for e in merged] == [
        ("handoff_context", "memory_insert", "worker <worker@agents.gitmem>"),
        ("domain_knowledge", "merge", ME),
    ]
    assert merged[1]["parent"] == merged[0]["commit"]
    assert diff_of(merged[1]).endswith("\n+Fact from there.")
    assert (undone["block"], undone["op"], undone["commit"]) == (
        "domain_knowledge",
        "rewrite",
        rev(store),
    )
    assert diff_of(undone).endswith("\n-Fact from there.")
    assert w.stop() == ([], [])
    assert_clean(store)


# -- Python ------------------------------------------------------------------------


def test_python_watch_iterates_until_closed_and_calls_back(sample: gitmem.Client) -> None:
    problems: list[str] = []
    watcher = sample.watch("worker", report=problems.append)
    got: list[Event] = []
    reading = threading.Thread(target=lambda: got.extend(watcher))
    reading.start()
    called: queue.Queue[Event] = queue.Queue()
    with sample.watch(agent_id=["supervisor"]).start(called.put) as other:
        sample.agents.memory("supervisor").memory_insert("task_queue", "[todo] T-2")
        told = called.get(timeout=WAIT)
        assert other.last is not None

    deadline = time.monotonic() + WAIT
    while not got and time.monotonic() < deadline:  # the other thread's event
        reading.join(timeout=0.01)
    watcher.close()
    reading.join(timeout=WAIT)

    assert not reading.is_alive()
    assert [(e.agent, e.block, e.op) for e in got] == [("worker", "task_queue", "memory_insert")]
    assert (told.agent, told.commit) == ("supervisor", got[0].commit)
    assert list(watcher) == []
    assert problems == []


def test_a_cursor_at_a_commit_that_is_gone_is_said_and_the_head_is_taken(
    sample: gitmem.Client,
) -> None:
    cursor = sample.path / ".git/gitmem/cursors/lost"
    cursor.parent.mkdir(parents=True)
    cursor.write_text("0" * 40 + "\n")
    problems: list[str] = []

    with sample.watch(cursor="lost", report=problems.append) as watcher:
        assert watcher.last == rev(sample.path).encode()

    assert problems == [
        f"{cursor}: commit '{'0' * 40}' is not in the repository; starting from the head, "
        "changes since it was saved are not delivered"
    ]
    assert cursor.read_text() == rev(sample.path) + "\n"


def test_bad_names_are_refused(sample: gitmem.Client) -> None:
    with pytest.raises(gitmem.ValidationError) as bad_cursor:
        sample.watch(cursor="../x")
    with pytest.raises(gitmem.ValidationError) as bad_agent:
        sample.watch("Worker")

    assert str(bad_cursor.value) == (
        "invalid cursor name '../x': use up to 128 letters, digits, '.', '_' and '-', "
        "starting with a letter or digit"
    )
    assert str(bad_agent.value).startswith("invalid agent id 'Worker': ")


def test_a_long_diff_is_cut_and_says_how_much_is_left() -> None:
    new = "\n".join(f"line {i} " + "x" * 90 for i in range(100))

    diff = value_diff("", new, limit=1000)

    assert diff.startswith("@@ -0,0 +1,100 @@\n+line 0 ")
    assert len(diff) <= 1000 + len("\n... (91 more lines)")
    assert diff.endswith("\n... (91 more lines)")


def test_two_watchers_cannot_hold_one_cursor(sample: gitmem.Client, watch: type[Watch]) -> None:
    first = watch(sample.path, "--cursor", "worker")

    second = subprocess.run(
        [sys.executable, "-m", "gitmem", "-C", str(sample.path), "watch", "--cursor", "worker"],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )

    assert (second.returncode, second.stdout, second.stderr) == (
        1,
        "",
        f"Error: cursor 'worker' is held by another watcher (pid {first.proc.pid}); "
        "stop it or use another --cursor\n",
    )
    with sample.watch(cursor="other"):  # another cursor is free
        pass
    first.stop()
    with sample.watch(cursor="worker") as watcher:  # free again once its watcher stopped
        with pytest.raises(gitmem.GitmemError, match="is held by another watcher"):
            sample.watch(cursor="worker")
        assert watcher.last == git(sample.path, "rev-parse", "HEAD").strip().encode()


def test_a_label_change_shows_the_front_matter_diff(sample: gitmem.Client) -> None:
    with sample.watch("worker") as told:
        sample.blocks.update("task_queue", label="queue", limit=12000)
        event = next(told)
        sample.agents.memory("worker").memory_insert("queue", "[todo] T-2")
        inserted = next(told)

    assert (event.kind, event.label, event.diff) == (
        "updated",
        "queue",
        "@@ -1,5 +1,5 @@\n"
        " ---\n"
        "-label: task_queue\n"
        "+label: queue\n"
        f" description: {DESCRIPTION}\n"
        "-limit: 10000\n"
        "+limit: 12000\n"
        " read_only: false",
    )
    assert inserted.diff == f"@@ -1 +1,2 @@\n {TASK_1}\n+[todo] T-2"  # the value alone
