"""``gitmem check``: every kind of broken store, made for real on disk and with git."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import gitmem
from gitmem.cli import main
from gitmem.ops.check import StoreFile, check_files, check_store
from tests.conftest import git

BLOCK = "---\nlabel: {label}\n---\n{value}\n"


def check(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(store), "check", *args])


def problems(store: Path) -> list[str]:
    result = check(store)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1].startswith("Error: found ")
    return result.stdout.splitlines()


def commit_all(store: Path, message: str = "by hand") -> None:
    """What a person does with plain git, hooks or not."""
    git(store, "add", "-A")
    git(store, "commit", "-q", "--no-verify", "-m", message)


def test_a_sound_store_is_ok(sample: gitmem.Client) -> None:
    result = check(sample.path)
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 8 blocks, 2 agents, 19 Git objects checked\n"


def test_json_lists_each_problem_with_where_it_is(client: gitmem.Client) -> None:
    (client.path / "blocks" / "stray.txt").parent.mkdir()
    (client.path / "blocks" / "stray.txt").write_text("hello")
    result = check(client.path, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "problems": [
            {
                "path": "blocks/stray.txt",
                "line": 1,
                "message": "not a block: blocks/ holds only <block-id>.md files",
                "where": ["disk"],
            }
        ],
        "blocks": 0,
        "agents": 0,
        "objects": 5,
    }
    assert result.stderr == "Error: found 1 problem\n"


def stray_files(s: Path) -> None:
    (s / "blocks/notes.txt").write_text("x")
    (s / "agents/team").mkdir()
    (s / "agents/team/a.yaml").write_text("name: a\n")


# Each case breaks a sample store on disk; check reports it (and only it), on
# disk; committing it with plain git makes it a problem of both. (What a
# breaking step returns, such as write_text's count, is not used.)
CASES: dict[str, tuple[Callable[[Path], object], list[str]]] = {
    "unknown key": (
        lambda s: (s / "blocks/organization.md").write_text(
            "---\nlabel: organization\nreadonly: true\n---\nx\n"
        ),
        [
            "blocks/organization.md:3: unknown key 'readonly' "
            "(allowed: label, description, limit, read_only, metadata)"
        ],
    ),
    "not UTF-8": (
        lambda s: (s / "blocks/organization.md").write_bytes(b"---\nlabel: x\n---\n\xff\n"),
        ["blocks/organization.md:4: not valid UTF-8 (byte 0xff)"],
    ),
    "NUL": (
        lambda s: (s / "blocks/organization.md").write_bytes(b"---\nlabel: x\n---\na\0b\n"),
        ["blocks/organization.md:4: contains a NUL byte"],
    ),
    "no front matter": (
        lambda s: (s / "blocks/organization.md").write_text("just text\n"),
        ["blocks/organization.md:1: missing front matter: the file must start with a '---' line"],
    ),
    "over the limit": (
        lambda s: (s / "blocks/organization.md").write_text(
            "---\nlabel: organization\nlimit: 5\n---\n123456\n"
        ),
        ["blocks/organization.md:5: value is too long: 6 characters requested, 5 allowed"],
    ),
    "enormous YAML": (
        lambda s: (s / "blocks/organization.md").write_text(
            "---\nlabel: x\ndescription: " + "d" * 70_000 + "\n---\n"
        ),
        ["blocks/organization.md:2: YAML is longer than 65536 characters"],
    ),
    "deeply nested YAML": (
        lambda s: (s / "blocks/organization.md").write_text(
            "---\nlabel: x\nmetadata: " + "[" * 5000 + "]" * 5000 + "\n---\n"
        ),
        ["blocks/organization.md:3: invalid YAML: exceeded maximum nesting depth"],
    ),
    "YAML alias bomb": (
        lambda s: (s / "blocks/organization.md").write_text(
            "---\nlabel: x\nmetadata:\n  a: &a [x, x]\n  b: &b [*a, *a]\n  c: [*b, *b]\n---\n"
        ),
        ["blocks/organization.md:4: YAML aliases ('*name') are not allowed"],
    ),
    "label with a newline": (
        lambda s: (s / "blocks/organization.md").write_text(
            '---\nlabel: "org\\nread_only: true"\n---\n'
        ),
        [
            "blocks/organization.md:2: 'label' must not contain control characters "
            "(newlines, tabs, ...)"
        ],
    ),
    "label of 201 characters": (
        lambda s: (s / "blocks/organization.md").write_text(f"---\nlabel: {'l' * 201}\n---\n"),
        ["blocks/organization.md:2: 'label' is 201 characters, over the maximum of 200"],
    ),
    "invalid block id": (
        lambda s: (s / "blocks/Upper Case.md").write_text(BLOCK.format(label="u", value="")),
        [
            "blocks/Upper Case.md:1: invalid block id 'Upper Case': use up to 128 characters "
            "of lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, "
            "in '/'-separated parts"
        ],
    ),
    "invalid agent id": (
        lambda s: (s / "agents/-x.yaml").write_text("name: x\n"),
        [
            "agents/-x.yaml:1: invalid agent id '-x': use up to 128 characters of lower-case "
            "letters, digits, '.', '_' and '-', starting with a letter or digit"
        ],
    ),
    "stray files": (
        stray_files,
        [
            "agents/team/a.yaml:1: not an agent manifest: agents/ holds only <agent-id>.yaml files",
            "blocks/notes.txt:1: not a block: blocks/ holds only <block-id>.md files",
        ],
    ),
    "manifest names a missing block": (
        lambda s: (s / "agents/worker.yaml").write_text(
            "name: worker\nblocks:\n- organization\n- ghost\n"
        ),
        ["agents/worker.yaml:4: block 'ghost' does not exist"],
    ),
    "manifest with an invalid block id": (
        lambda s: (s / "agents/worker.yaml").write_text("name: worker\nblocks:\n- ../etc/passwd\n"),
        [
            "agents/worker.yaml:2: 'blocks': invalid block id '../etc/passwd': use up to 128 "
            "characters of lower-case letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, in '/'-separated parts"
        ],
    ),
    "two attached blocks with one label": (
        lambda s: (s / "blocks/task_queue.md").write_text(
            BLOCK.format(label="organization", value="")
        ),
        [
            "agents/supervisor.yaml:7: blocks 'organization' and 'task_queue' are both "
            "labelled 'organization'; labels must be unique per agent",
            "agents/worker.yaml:7: blocks 'organization' and 'task_queue' are both "
            "labelled 'organization'; labels must be unique per agent",
        ],
    ),
    "bad settings": (
        lambda s: (s / "gitmem.yaml").write_text("format: 1\ndefault_limit: -3\n"),
        ["gitmem.yaml:2: 'default_limit' must be a positive number"],
    ),
    "a default limit no block may have": (
        lambda s: (s / "gitmem.yaml").write_text("format: 1\ndefault_limit: 1000001\n"),
        ["gitmem.yaml:2: 'default_limit' is 1000001, over the maximum of 1000000 characters"],
    ),
    "a branch git would not take": (
        lambda s: (s / "gitmem.yaml").write_text("format: 1\nbranch: main..x\n"),
        ["gitmem.yaml:2: 'branch' must be a Git branch name such as main, not 'main..x'"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_broken_file_is_reported_on_disk_then_committed(
    sample: gitmem.Client, case: str
) -> None:
    damage, expected = CASES[case]
    damage(sample.path)
    assert problems(sample.path) == [f"{p} (on disk; not committed)" for p in expected]

    commit_all(sample.path)
    assert problems(sample.path) == expected


def test_a_problem_fixed_on_disk_but_not_committed_is_still_reported(
    sample: gitmem.Client,
) -> None:
    org = sample.path / "blocks/organization.md"
    good = org.read_text()
    org.write_text("---\nlabel: organization\nreadonly: true\n---\n")
    commit_all(sample.path)
    org.write_text(good)
    assert problems(sample.path) == [
        "blocks/organization.md:3: unknown key 'readonly' (allowed: label, description, limit, "
        "read_only, metadata) (in the last commit; not on disk)"
    ]


def test_links_are_reported_and_never_followed(sample: gitmem.Client, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("not valid front matter, and private\n")
    os.symlink(outside / "secret.md", sample.path / "blocks/secret.md")
    os.symlink(outside, sample.path / "blocks/linked")
    os.symlink(outside / "missing", sample.path / "agents/dangling.yaml")
    os.mkfifo(sample.path / "blocks/pipe.md")
    link = "is a symbolic link; gitmem never follows links in the store (on disk; not committed)"
    assert problems(sample.path) == [
        f"agents/dangling.yaml:1: {link}",
        f"blocks/linked:1: {link}",
        "blocks/pipe.md:1: is not a regular file (a device, FIFO or socket) "
        "(on disk; not committed)",
        f"blocks/secret.md:1: {link}",
    ]


def test_a_linked_blocks_directory_is_reported_not_entered(
    client: gitmem.Client, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.md").write_text("garbage")
    os.symlink(outside, client.path / "blocks")
    assert problems(client.path) == [
        "blocks:1: is a symbolic link; gitmem never follows links in the store "
        "(on disk; not committed)"
    ]


def test_links_and_submodules_committed_with_git_are_reported(sample: gitmem.Client) -> None:
    os.symlink("/etc/passwd", sample.path / "blocks/passwd.md")
    git(sample.path, "add", "blocks/passwd.md")
    head = git(sample.path, "rev-parse", "HEAD").strip()
    git(sample.path, "update-index", "--add", "--cacheinfo", f"160000,{head},blocks/sub.md")
    git(sample.path, "commit", "--no-verify", "-q", "-m", "link and submodule")
    # The API sees neither as a block: it never reads a link's target or a foreign commit.
    assert sorted(b.id for b in sample.blocks.list()) == sorted(
        p.relative_to(sample.path / "blocks").as_posix()[:-3]
        for p in (sample.path / "blocks").rglob("*.md")
        if not p.is_symlink()
    )
    assert problems(sample.path) == [
        "blocks/passwd.md:1: is a symbolic link; gitmem never follows links in the store",
        "blocks/sub.md:1: is a submodule, not a file (in the last commit; not on disk)",
    ]


def test_editor_temporary_files_are_ignored(sample: gitmem.Client) -> None:
    for name in (".organization.md.swp", "organization.md~", "#organization.md#", "4913"):
        (sample.path / "blocks" / name).write_text("scratch")
    (sample.path / "blocks/.hidden").mkdir()
    (sample.path / "blocks/.hidden/x.txt").write_text("scratch")
    assert check(sample.path).exit_code == 0


def test_stale_lock_files_are_reported_and_fresh_ones_and_the_store_lock_are_not(
    sample: gitmem.Client,
) -> None:
    gitdir = sample.path / ".git"
    old = time.time() - 60
    for name in ("index.lock", "refs/heads/main.lock", "objects/ab/cdef.lock", "gitmem.lock"):
        (gitdir / name).parent.mkdir(exist_ok=True)
        (gitdir / name).write_text("")
        os.utime(gitdir / name, (old, old))
    (gitdir / "HEAD.lock").write_text("")  # fresh: a writer is at work
    stale = (
        "stale lock file, 60 s old: a git or gitmem process died holding it; delete it if "
        "no git command is running"
    )
    assert problems(sample.path) == [
        f".git/index.lock:1: {stale}",
        f".git/objects/ab/cdef.lock:1: {stale}",
        f".git/refs/heads/main.lock:1: {stale}",
    ]


def _loose(store: Path, sha: str) -> Path:
    return store / ".git/objects" / sha[:2] / sha[2:]


def test_damaged_and_missing_objects_are_reported(sample: gitmem.Client) -> None:
    org = sample.blocks.retrieve("organization").version
    persona = sample.blocks.retrieve("worker/persona").version
    assert org and persona
    damaged = _loose(sample.path, org)
    os.chmod(damaged, 0o644)
    damaged.write_bytes(zlib.compress(b"blob 5\0other"))  # a valid object, not this one
    got = hashlib.sha1(b"blob 5\0other").hexdigest()
    _loose(sample.path, persona).unlink()
    mismatch = f"Checksum mismatch: Expected {org}, got {got}"
    assert problems(sample.path) == [
        f".git/objects:1: blob {persona} (blocks/worker/persona.md) is missing",
        f".git/objects/{org[:2]}/{org[2:]}:1: blob {org} (blocks/organization.md) is "
        f"damaged: {mismatch}",
        "blocks/organization.md:1: cannot be read: its Git object is missing or damaged "
        "(in the last commit; not on disk)",
        "blocks/worker/persona.md:1: cannot be read: its Git object is missing or damaged "
        "(in the last commit; not on disk)",
    ]
    # Every other command says what is wrong in one line, not a traceback.
    result = CliRunner().invoke(main, ["-C", str(sample.path), "blocks", "show", "organization"])
    assert result.exit_code == 1
    assert (
        result.stderr == f"Error: Git object {org} is damaged ({mismatch}) (run 'gitmem check')\n"
    )


@pytest.mark.parametrize(
    ("file", "content", "problem"),
    [
        (
            "refs/heads/main",
            "not a commit id\n",
            ".git/refs/heads/main:1: does not hold a commit id: b'not a commit id'",
        ),
        ("refs/heads/main", "", ".git/refs/heads/main:1: the branch has no commit"),
        ("HEAD", "", ".git/HEAD:1: does not name a branch: b''"),
        ("HEAD", "ref: HEAD\n", ".git/HEAD:1: does not name a branch: b'ref: HEAD'"),
        (
            "HEAD",
            "ref: refs/heads/../../../../etc/passwd\n",
            ".git/HEAD:1: does not name a branch: b'ref: refs/heads/../../../../etc/passwd'",
        ),
        (
            "HEAD",
            "ref: refs/tags/v1\n",
            ".git/HEAD:1: does not name a branch: b'ref: refs/tags/v1'",
        ),
    ],
)
def test_a_head_that_names_no_commit_is_reported_and_stops_every_write(
    client: gitmem.Client, file: str, content: str, problem: str
) -> None:
    (client.path / ".git" / file).write_text(content)
    assert problems(client.path)[0] == problem
    result = CliRunner().invoke(main, ["-C", str(client.path), "blocks", "create", "--label", "x"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert not (client.path / "blocks").exists()


def test_a_detached_head_is_a_state_not_a_problem(sample: gitmem.Client) -> None:
    git(sample.path, "checkout", "-q", "--detach")
    sample.agents.memory("worker").memory_insert("organization", "Agent line")

    result = check(sample.path)

    assert (result.exit_code, result.stderr) == (0, "")
    assert git(sample.path, "show", "main:blocks/organization.md").endswith("Agent line\n")


def test_check_files_is_the_rule_set_for_any_set_of_files() -> None:
    """What commit-from-disk and pull call with the files they are about to commit."""
    files = [
        StoreFile("gitmem.yaml", b"format: 1\ndefault_limit: 10\n"),
        StoreFile("blocks/a.md", BLOCK.format(label="a", value="0123456789").encode()),
        StoreFile("blocks/b.md", BLOCK.format(label="b", value="0123456789-").encode()),
        StoreFile("blocks/c.md", refused="is a symbolic link"),
        StoreFile("agents/w.yaml", b"name: w\nblocks:\n- a\n- b\n- c\n- d\n"),
    ]
    found = check_files(files)
    assert [str(p) for p in found.problems] == [
        "blocks/b.md:4: value is too long: 11 characters requested, 10 allowed",
        "blocks/c.md:1: is a symbolic link",
        "agents/w.yaml:6: block 'd' does not exist",
    ]
    assert list(found.blocks) == ["a"]
    assert list(found.agents) == ["w"]


def test_check_store_changes_nothing(sample: gitmem.Client) -> None:
    (sample.path / "blocks/notes.txt").write_text("x")
    before = git(sample.path, "status", "--porcelain", "--untracked-files=all")
    head = git(sample.path, "rev-parse", "HEAD")
    report = check_store(sample.path)
    assert len(report.problems) == 1
    assert git(sample.path, "status", "--porcelain", "--untracked-files=all") == before
    assert git(sample.path, "rev-parse", "HEAD") == head


# -- one rule set ----------------------------------------------------------------
#
# Each case damages the sample store; every path that reads or takes files says
# the same `path:line: message`: `gitmem status` and `gitmem commit` (files on
# disk), `gitmem check` (on disk, then committed), the pre-commit hook, and a
# pull in another deployment. ``disk``: whether gitmem reads the damage from disk
# (an executable bit only matters once git stages it).

ORG = "blocks/organization.md"
WORKER = "agents/worker.yaml"
MARKER = "unresolved conflict (<<<<<<< ... >>>>>>> lines); resolve it first"
RULES: dict[str, tuple[str, Callable[[Path], object], str, bool]] = {
    "unknown key": (
        ORG,
        lambda p: p.write_text(p.read_text().replace("read_only:", "readonly:")),
        "blocks/organization.md:5: unknown key 'readonly' "
        "(allowed: label, description, limit, read_only, metadata)",
        True,
    ),
    "a leftover conflict marker": (
        ORG,
        lambda p: p.write_text(p.read_text() + "<<<<<<< yours\nEdited.\n"),
        f"blocks/organization.md:10: {MARKER}",
        True,
    ),
    "conflict markers in a manifest": (
        WORKER,
        lambda p: p.write_text(
            p.read_text() + "<<<<<<< ours\nmodel: a\n=======\nmodel: b\n>>>>>>> theirs\n"
        ),
        f"agents/worker.yaml:12: {MARKER}",
        True,
    ),
    "a manifest naming a missing block": (
        WORKER,
        lambda p: p.write_text(p.read_text().replace("- task_queue\n", "- task_queue\n- ghost\n")),
        "agents/worker.yaml:8: block 'ghost' does not exist",
        True,
    ),
    "an executable block": (
        ORG,
        lambda p: p.chmod(0o755),
        "blocks/organization.md:1: is an executable file; blocks and manifests must be plain files",
        False,
    ),
}


@pytest.mark.parametrize("case", RULES)
def test_every_path_applies_one_rule_set_with_the_same_lines(
    sample: gitmem.Client, tmp_path: Path, case: str
) -> None:
    path, damage, problem, disk = RULES[case]
    hub = tmp_path / "hub.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(hub))
    sample.add_remote("origin", str(hub))
    sample.push()
    gitmem.Client.clone(str(hub), tmp_path / "other").close()
    damage(sample.path / path)

    if disk:
        assert [(s.path, s.problem) for s in sample.status()] == [(path, problem)]
        assert sample.commit().refused == {path: problem}
        assert problems(sample.path) == [f"{problem} (on disk; not committed)"]
    refused = subprocess.run(
        ["git", "commit", "-qam", "by hand"], cwd=sample.path, capture_output=True, text=True
    )
    assert (refused.returncode, refused.stderr.split("\n")[0]) == (1, problem)
    git(sample.path, "commit", "-q", "--no-verify", "-am", "past the hook")
    assert problems(sample.path) == [problem]
    git(sample.path, "push", "-q", "origin", "main")
    with (
        gitmem.Client(tmp_path / "other") as other,
        pytest.raises(gitmem.ValidationError) as pulled,
    ):
        other.pull()
    commit = git(sample.path, "rev-parse", "HEAD")[:12]
    by = f" (from commit {commit} by Pat Person <pat@example.com>)"
    assert str(pulled.value).split("\n")[1] == problem + by


def test_a_clone_names_only_the_file_that_is_wrong(sample: gitmem.Client, tmp_path: Path) -> None:
    hub = tmp_path / "hub.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(hub))
    RULES["unknown key"][1](sample.path / ORG)
    commit_all(sample.path)
    git(sample.path, "push", "-q", str(hub), "main")
    commit = git(sample.path, "rev-parse", "HEAD").strip()

    with pytest.raises(gitmem.ValidationError) as refused:
        gitmem.Client.clone(str(hub), tmp_path / "clone")

    assert str(refused.value).split("\n") == [
        "pull from origin/main refused; nothing was changed here:",
        f"{RULES['unknown key'][2]} (from commit {commit[:12]} by Pat Person <pat@example.com>)",
        "to fix: where that commit was made, correct the file on disk, then gitmem commit "
        "and gitmem push (in a plain git clone: git commit -a, git push); then pull again",
    ]
    assert not (tmp_path / "clone").exists()


def test_memory_tools_never_write_a_conflict_marker(sample: gitmem.Client) -> None:
    memory = sample.agents.memory("worker")
    with pytest.raises(gitmem.ValidationError) as refused:
        memory.memory_insert("task_queue", "<<<<<<< yours")
    assert str(refused.value) == f"block 'task_queue': value line 2: {MARKER}"
    memory.memory_insert("task_queue", "Heading\n=======")  # Markdown, not a conflict
    assert problems_of(sample.path) == []


def problems_of(store: Path) -> list[str]:
    return [str(p) for p in check_store(store).problems]
