"""History: block log, blame by agent, reads at a revision or date, diff, revert, and
the store's log filtered by trailers; checked against the real git binary."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import gitmem
from gitmem.cli import main
from tests.conftest import PERSON, assert_clean, client_on, git

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def run(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), *args])


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], None]]:
    """A wall clock the test sets; commits and "N hours ago" both read it. Times print in UTC."""
    now = [float(T0)]
    monkeypatch.setattr(time, "time", lambda: now[0])
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()

    def set_to(seconds: float) -> None:
        now[0] = seconds

    yield set_to
    if zone is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = zone
    time.tzset()


def two_agents(client: gitmem.Client) -> None:
    """alice and bob share 'notes' and edit different lines of it."""
    client.blocks.create(label="notes", value="intro")
    client.agents.create(name="alice", block_ids=["notes"])
    client.agents.create(name="bob", block_ids=["notes"])
    client.agents.memory("alice").memory_insert("notes", "alice: first")
    client.agents.memory("bob").memory_insert("notes", "bob: second")
    client.agents.memory("alice").memory_replace("notes", "intro", "Intro")


def test_blame_shows_each_agent_on_its_own_lines(client: gitmem.Client) -> None:
    two_agents(client)
    # Front matter that grows by several lines must not shift the value's lines.
    client.blocks.update("notes", metadata={"owner": "team", "tags": ["a", "b"]})
    client.agents.memory("bob").memory_insert("notes", "bob: third")

    lines = client.blocks.blame("notes")

    log = {e.commit: e for e in client.history()}
    assert [(b.line, b.text, b.who, b.op) for b in lines] == [
        (1, "Intro", "alice", "memory_replace"),
        (2, "alice: first", "alice", "memory_insert"),
        (3, "bob: second", "bob", "memory_insert"),
        (4, "bob: third", "bob", "memory_insert"),
    ]
    assert all(log[b.commit].agent == b.agent and log[b.commit].time == b.time for b in lines)
    # git blame agrees on the commit behind every value line.
    blamed = git(client.path, "blame", "-l", "-s", "--", "blocks/notes.md").splitlines()
    assert [row.split()[0] for row in blamed[-4:]] == [b.commit for b in lines]


def test_block_history_lists_every_change_with_op_agent_and_diffstat(client: gitmem.Client) -> None:
    two_agents(client)
    client.blocks.update("notes", label="memo")  # a new label: same id, same file, one history

    revisions = client.blocks.history("notes")

    assert [(r.op, r.who, r.added, r.removed) for r in revisions] == [
        ("update_block", PERSON[0], 0, 0),
        ("memory_replace", "alice", 1, 1),
        ("memory_insert", "bob", 1, 0),
        ("memory_insert", "alice", 1, 0),
        ("create_block", PERSON[0], 1, 0),
    ]
    expected = git(client.path, "log", "--format=%H", "--", "blocks/notes.md").split()
    assert [r.commit for r in revisions] == expected
    assert revisions[0].version == client.blocks.retrieve("notes").version
    assert [r.commit for r in client.blocks.history("notes", limit=2)] == expected[:2]


def test_retrieve_at_revisions_returns_the_exact_old_values(client: gitmem.Client) -> None:
    values = ["v1", "v2\nwith two lines", "", "  v4 keeps spaces  \n"]
    client.blocks.create(label="notes", value=values[0])
    commits = [git(client.path, "rev-parse", "HEAD").strip()]
    for value in values[1:]:
        client.blocks.update("notes", value=value)
        commits.append(git(client.path, "rev-parse", "HEAD").strip())
    git(client.path, "branch", "before-last", commits[-2])

    for n, value in enumerate(reversed(values)):
        assert client.blocks.retrieve("notes", at=f"HEAD~{n}").value == value
    for commit, value in zip(commits, values, strict=True):
        assert client.blocks.retrieve("notes", at=commit).value == value
        assert client.blocks.retrieve("notes", at=commit[:10]).value == value
    assert client.blocks.retrieve("notes", at="before-last").value == ""
    assert client.blocks.retrieve("notes", at="main~3^0").value == "v1"
    with pytest.raises(gitmem.NotFoundError, match=r"^block 'notes' does not exist at HEAD~4$"):
        client.blocks.retrieve("notes", at="HEAD~4")


def test_retrieve_at_dates(client: gitmem.Client, clock: Callable[[float], None]) -> None:
    for hour, value in enumerate(["at 1h", "at 2h", "at 3h"], 1):
        clock(T0 + hour * 3600)
        if hour == 1:
            client.blocks.create(label="notes", value=value)
        else:
            client.blocks.update("notes", value=value)
    clock(T0 + 4 * 3600)

    def at(when: str) -> str:
        return client.blocks.retrieve("notes", at=when).value

    assert at("2023-11-14T23:13:20+00:00") == "at 1h"  # exactly the first commit's time
    assert at("2023-11-15T00:30:00Z") == "at 2h"
    assert at("2023-11-15 01:13:20") == "at 3h"  # local time, which the clock says is UTC
    assert at("100 minutes ago") == "at 2h"
    assert at("1 hour ago") == "at 3h"
    assert at(str(T0 + 3600 + 59)) == "at 1h"  # seconds since the epoch
    with pytest.raises(gitmem.NotFoundError, match=r"^no commit at or before '5 hours ago'$"):
        at("5 hours ago")
    with pytest.raises(gitmem.NotFoundError, match=r"^unknown revision or date: 'not a rev'$"):
        at("not a rev")


def test_revert_makes_a_new_commit_with_the_old_value_and_front_matter(
    client: gitmem.Client,
) -> None:
    client.blocks.create(label="notes", value="good", description="kept notes", limit=100)
    good = git(client.path, "rev-parse", "HEAD").strip()
    client.blocks.update("notes", value="bad", limit=50, description="")
    client.agents.create(name="alice", block_ids=["notes"])
    client.agents.memory("alice").memory_insert("notes", "worse")
    count = int(git(client.path, "rev-list", "--count", "HEAD"))

    restored = client.blocks.revert("notes", to=good[:8])

    now = client.blocks.retrieve("notes")
    assert (now.value, now.description, now.limit, now.version) == (
        "good",
        "kept notes",
        100,
        restored.version,
    )
    assert int(git(client.path, "rev-list", "--count", "HEAD")) == count + 1
    assert git(client.path, "diff", good, "HEAD", "--", "blocks/notes.md") == ""
    last = git(client.path, "log", "-1", "--format=%an|%s|%(trailers:only,unfold,separator=;)")
    assert last == (
        f"{PERSON[0]}|revert_block: notes to {good[:12]}|"
        "Gitmem-Op: revert_block;Gitmem-Block: notes\n"
    )
    assert client.blocks.history("notes")[0].op == "revert_block"
    assert client.agents.blocks.list("alice")[0].value == "good"  # attachments are untouched
    # Reverting to what it already is: no commit.
    assert client.blocks.revert("notes", to=good).version == restored.version
    assert int(git(client.path, "rev-list", "--count", "HEAD")) == count + 1
    assert_clean(client.path)


def test_revert_is_refused_when_the_result_would_be_invalid(client: gitmem.Client) -> None:
    client.blocks.create(label="notes", value="x", id="a")
    client.blocks.update("a", label="renamed")
    client.blocks.create(label="notes", value="y", id="b")
    client.agents.create(name="alice", block_ids=["a", "b"])
    head = git(client.path, "rev-parse", "HEAD")

    with pytest.raises(
        gitmem.ValidationError,
        match=r"^cannot revert 'a' to HEAD~3: agent 'alice' already has a block labelled "
        r"'notes' \('a'\); labels must be unique per agent$",
    ):
        client.blocks.revert("a", to="HEAD~3")
    with pytest.raises(gitmem.NotFoundError, match=r"^block 'b' does not exist at HEAD~2$"):
        client.blocks.revert("b", to="HEAD~2")
    assert git(client.path, "rev-parse", "HEAD") == head
    assert_clean(client.path)


def test_revert_is_checked_against_todays_limit(client: gitmem.Client) -> None:
    # Files committed with plain git, without the hook: the first is over its own limit.
    client.blocks.create(label="notes", value="ok", limit=5)
    path = client.path / "blocks/notes.md"
    front = path.read_text().removesuffix("ok\n")
    for value in ("far too long", "fine"):
        path.write_text(f"{front}{value}\n")
        git(client.path, "commit", "--no-verify", "-qam", "edit by hand")

    with pytest.raises(
        gitmem.LimitExceededError,
        match=r"^cannot revert 'notes' to HEAD~1: blocks/notes.md:7: value is too long: "
        r"12 characters requested, 5 allowed$",
    ):
        client.blocks.revert("notes", to="HEAD~1")


def test_deleted_and_recreated_block_has_one_continuous_history(client: gitmem.Client) -> None:
    client.blocks.create(label="notes", value="first life")
    client.blocks.update("notes", value="first life\nmore")
    client.blocks.create(label="other", value="unrelated")
    client.blocks.delete("notes")
    client.blocks.create(label="notes", value="second life", id="notes")

    revisions = client.blocks.history("notes")

    assert [(r.op, r.version is None, r.added, r.removed) for r in revisions] == [
        ("create_block", False, 1, 0),
        ("delete_block", True, 0, 2),
        ("update_block", False, 1, 0),
        ("create_block", False, 1, 0),
    ]
    assert [(b.text, b.commit) for b in client.blocks.blame("notes")] == [
        ("second life", revisions[0].commit)
    ]
    assert client.blocks.retrieve("notes", at=revisions[2].commit).value == "first life\nmore"
    client.blocks.delete("notes")
    assert client.blocks.history("notes")[0].op == "delete_block"
    with pytest.raises(gitmem.NotFoundError, match=r"^block 'notes' does not exist$"):
        client.blocks.blame("notes")
    restored = client.blocks.revert("notes", to="HEAD~1")  # a revert can bring it back
    assert restored.value == "second life"
    with pytest.raises(gitmem.NotFoundError, match=r"^block 'never' has no history$"):
        client.blocks.history("never")


def test_history_follows_merges_like_git_log(client: gitmem.Client) -> None:
    client.blocks.create(label="notes", value="base")
    client.blocks.create(label="other", value="base")
    path = client.path
    git(path, "checkout", "-qb", "side")
    (path / "blocks/notes.md").write_text((path / "blocks/notes.md").read_text() + "side\n")
    git(path, "commit", "-qam", "side edit")
    git(path, "checkout", "-q", "main")
    client.blocks.update("other", value="main edit")
    client.blocks.update("notes", value="base\nmain")
    git(path, "merge", "-q", "--no-edit", "-s", "ours", "side")  # keeps main's notes
    git(path, "checkout", "-qb", "side2", "HEAD~1")
    with client_on(path, "side2") as side2:
        side2.blocks.update("other", value="side2 edit")
    git(path, "checkout", "-q", "main")
    git(path, "merge", "-q", "--no-edit", "side2")

    subjects = {}
    for block in ("notes", "other"):
        expected = git(path, "log", "--format=%H", "--", f"blocks/{block}.md").split()
        assert [r.commit for r in client.blocks.history(block)] == expected
        subjects[block] = [r.subject for r in client.blocks.history(block)]
    assert subjects == {
        "notes": ["update_block: notes", "create_block: notes"],
        "other": ["update_block: other", "update_block: other", "create_block: other"],
    }


def test_diff_shows_front_matter_and_value_changes(client: gitmem.Client) -> None:
    client.blocks.create(label="notes", value="one\ntwo")
    first = git(client.path, "rev-parse", "HEAD").strip()
    client.blocks.update("notes", value="one\n2\nthree", label="memo", read_only=True)
    head = git(client.path, "rev-parse", "HEAD").strip()

    last = client.blocks.diff("notes")
    assert (last.old, last.new) == (first, head)
    assert last.front_matter == {"label": ("notes", "memo"), "read_only": (False, True)}
    assert last.text() == (
        f"--- a/blocks/notes.md @ {first[:12]}\n"
        f"+++ b/blocks/notes.md @ {head[:12]}\n"
        "@@ front matter @@\n"
        '-label: "notes"\n'
        '+label: "memo"\n'
        "-read_only: false\n"
        "+read_only: true\n"
        "@@ -1,2 +1,3 @@\n"
        " one\n"
        "-two\n"
        "+2\n"
        "+three\n"
    )
    assert client.blocks.diff("notes", "HEAD", "HEAD").text() == ""
    created = client.blocks.diff("notes", "HEAD~2", "HEAD~1")
    assert (created.old, created.front_matter["limit"]) == (None, (None, 20000))
    assert created.text().startswith("--- /dev/null\n+++ b/blocks/notes.md @ ")
    assert created.value == ["@@ -0,0 +1,2 @@", "+one", "+two"]


def test_log_is_filtered_by_trailers(client: gitmem.Client, clock: Callable[[float], None]) -> None:
    two_agents(client)  # all at T0
    clock(T0 + 7200)
    client.agents.memory("bob").memory_insert("notes", "bob: later")
    client.blocks.create(label="other", value="x")
    path = client.path / "blocks/other.md"
    path.write_text(path.read_text() + "by hand\n")
    git(client.path, "commit", "-qam", "a plain git commit")

    def subjects(
        agent: str | None = None,
        block: str | None = None,
        op: str | None = None,
        since: str | None = None,
    ) -> list[str]:
        return [e.subject for e in client.history(agent=agent, block=block, op=op, since=since)]

    assert subjects(agent="bob") == [
        "memory_insert: notes",
        "memory_insert: notes",
        "create_agent: bob",
    ]
    assert subjects(op="memory_replace") == ["memory_replace: notes"]
    assert subjects(block="other") == ["a plain git commit", "create_block: other"]
    assert subjects(since="1 hour ago") == [
        "a plain git commit",
        "create_block: other",
        "memory_insert: notes",
    ]
    assert subjects(agent="bob", since="1 hour ago") == ["memory_insert: notes"]
    assert len(client.history()) == 10
    assert [e.subject for e in client.history(2)] == subjects()[:2]


def test_cli_history_commands(client: gitmem.Client, clock: Callable[[float], None]) -> None:
    two_agents(client)
    store = client.path
    head = git(store, "rev-parse", "HEAD").strip()

    out = run(store, "blocks", "log", "notes", "-n", "2")
    assert (out.exit_code, out.output) == (
        0,
        f"{head[:12]}\t2023-11-14 22:13:20 +0000\talice\tmemory_replace\t+1 -1\n"
        f"{git(store, 'rev-parse', 'HEAD~1').strip()[:12]}\t2023-11-14 22:13:20 +0000\tbob"
        "\tmemory_insert\t+1 -0\n",
    )
    as_json = json.loads(run(store, "blocks", "log", "notes", "--json").output)
    assert [r["agent"] for r in as_json] == ["alice", "bob", "alice", None]

    out = run(store, "blocks", "blame", "notes")
    assert out.exit_code == 0
    assert [line.split("\t")[1:] for line in out.output.splitlines()] == [
        ["alice", "2023-11-14 22:13:20 +0000", "1", "Intro"],
        ["alice", "2023-11-14 22:13:20 +0000", "2", "alice: first"],
        ["bob", "2023-11-14 22:13:20 +0000", "3", "bob: second"],
    ]

    out = run(store, "blocks", "show", "notes", "--at", "HEAD~2", "--json")
    assert json.loads(out.output)["value"] == "intro\nalice: first"

    out = run(store, "blocks", "diff", "notes", "HEAD~1")
    assert out.output.endswith("@@ -1,3 +1,3 @@\n-intro\n+Intro\n alice: first\n bob: second\n")

    out = run(store, "log", "--agent", "alice")
    assert out.exit_code == 0
    assert [line.split("\t")[2:] for line in out.output.splitlines()] == [
        ["alice", "memory_replace: notes"],
        ["alice", "memory_insert: notes"],
        ["alice", "create_agent: alice"],
    ]
    assert {
        e["agent"] for e in json.loads(run(store, "log", "--agent", "bob", "--json").output)
    } == {"bob"}

    out = run(store, "blocks", "revert", "notes", "--to", "HEAD~1")
    assert (out.exit_code, out.output.split(" ")[0]) == (0, "notes")
    assert client.blocks.retrieve("notes").value == "intro\nalice: first\nbob: second"
    assert_clean(store)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("blocks", "show", "notes", "--at", "nope"), "unknown revision or date: 'nope'"),
        (("blocks", "blame", "missing"), "block 'missing' does not exist"),
        (("blocks", "log", "missing"), "block 'missing' has no history"),
        (("blocks", "log", "Bad Id"), "invalid block id 'Bad Id'"),
        (("blocks", "diff", "notes", "HEAD~99"), "unknown revision or date: 'HEAD~99'"),
        (("blocks", "revert", "notes", "--to", "HEAD~1"), "block 'notes' does not exist at HEAD~1"),
        (("log", "--since", "whenever"), "unknown date: 'whenever'"),
    ],
)
def test_cli_errors_are_one_line_and_exit_1(
    client: gitmem.Client, args: tuple[str, ...], message: str
) -> None:
    client.blocks.create(label="notes", value="x")
    out = run(client.path, *args)
    assert out.exit_code == 1
    assert out.output.startswith(f"Error: {message}")
    assert out.output.count("\n") == 1


def test_nested_block_ids_and_stray_files(client: gitmem.Client) -> None:
    client.agents.create(name="alice", memory_blocks=[{"label": "persona", "value": "I am"}])
    client.agents.memory("alice").memory_rethink("persona", "I am alice")
    for stray in ("blocks/notes.txt", "blocks/alice/Bad Name.md", "blocks/alice/persona.md.bak"):
        (client.path / stray).write_text("not a block\n")
    git(client.path, "add", "-A")
    git(client.path, "commit", "--no-verify", "-qm", "stray files")
    client.agents.memory("alice").memory_insert("persona", "and I remember")

    revisions = client.blocks.history("alice/persona")

    expected = git(client.path, "log", "--format=%H", "--", "blocks/alice/persona.md").split()
    assert [r.commit for r in revisions] == expected
    assert [(r.op, r.added, r.removed) for r in revisions] == [
        ("memory_insert", 1, 0),
        ("memory_rethink", 1, 1),
        ("create_agent", 1, 0),
    ]
    assert [b.text for b in client.blocks.blame("alice/persona")] == [
        "I am alice",
        "and I remember",
    ]
