"""Hostile remotes: objects git fsck would refuse, and branches that name no
commit, crafted in a bare hub with the git CLI. A pull or a clone refuses each
in one line (exit 1) and changes nothing; git fsck stays clean."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from dulwich.objects import ObjectID

import gitmem
from gitmem.cli import main
from gitmem.git import incoming as gitincoming
from tests.conftest import PERSON, assert_clean, git
from tests.test_sync import snapshot

Entry = tuple[str, str, str]  # (mode, name, object id), as in a raw tree
EVE = "Eve <eve@example.com> 1700000000 +0000"


@dataclass
class Hub:
    """A bare hub a store pushed to, whose objects and branch a test forges."""

    path: Path
    head: str

    def write(self, kind: str, raw: bytes) -> str:
        """Write an object as it is (hash-object --literally): nobody checks it."""
        done = subprocess.run(
            ["git", "hash-object", "-t", kind, "--literally", "-w", "--stdin"],
            cwd=self.path,
            input=raw,
            capture_output=True,
            check=True,
        )
        return done.stdout.decode().strip()

    def tree(self, entries: list[Entry]) -> str:
        """A tree with ``entries`` as given: in this order, twice if given twice."""
        return self.write(
            "tree", b"".join(f"{m} {n}\0".encode() + bytes.fromhex(s) for m, n, s in entries)
        )

    def entries(self, spec: str) -> list[Entry]:
        found = []
        for line in git(self.path, "ls-tree", spec).splitlines():
            meta, name = line.split("\t")
            mode, _, sha = meta.split()
            found.append((mode.lstrip("0"), name, sha))
        return found

    def commit(self, tree: str, author: str = EVE, header: str = "") -> str:
        raw = f"tree {tree}\nparent {self.head}\n{header}author {author}\ncommitter {EVE}\n"
        return self.write("commit", f"{raw}\nhostile\n".encode())

    def with_blocks(self, blocks: list[Entry]) -> str:
        """A commit of the head's tree, with blocks/ made of ``blocks``."""
        new = self.tree(blocks)
        top = [(m, n, new if n == "blocks" else s) for m, n, s in self.entries("main")]
        return self.commit(self.tree(top))

    def point(self, sha: str) -> None:
        """Move main to ``sha``, whatever it is (git update-ref refuses a non-commit)."""
        (self.path / "refs/heads/main").write_text(sha + "\n")


@pytest.fixture
def forged(hub: Path, sample: gitmem.Client) -> tuple[Hub, gitmem.Client]:
    return Hub(hub, git(hub, "rev-parse", "main").strip()), sample


def run(transport: str, *args: str) -> tuple[int, str, str]:
    """gitmem's exit code, stdout and stderr; over ssh in a process of its own:
    dulwich 1.2 leaves the temporary file of a refused thin pack unclosed."""
    if transport == "path":
        done = CliRunner().invoke(main, list(args))
        return done.exit_code, done.stdout, done.stderr
    ran = subprocess.run([sys.executable, "-m", "gitmem", *args], capture_output=True, text=True)
    return ran.returncode, ran.stdout, ran.stderr


def duplicate_entry(hub: Hub, transport: str) -> tuple[str, str]:
    """blocks/dup.md twice: a symlink to /etc/passwd, then a valid block."""
    link = hub.write("blob", b"/etc/passwd")
    block = hub.write("blob", b"---\nlabel: dup\n---\nhello\n")
    blocks = [*hub.entries("main:blocks"), ("120000", "dup.md", link), ("100644", "dup.md", block)]
    blocks.sort(key=lambda e: e[1])
    problem = f"tree {hub.tree(blocks)} is malformed: duplicate entry b'dup.md'"
    return hub.with_blocks(blocks), problem


def unsorted_entries(hub: Hub, transport: str) -> tuple[str, str]:
    blocks = list(reversed(hub.entries("main:blocks")))
    return hub.with_blocks(blocks), f"tree {hub.tree(blocks)} is malformed: entries not sorted"


def overflowing_date(hub: Hub, transport: str) -> tuple[str, str]:
    tree = git(hub.path, "rev-parse", "main^{tree}").strip()
    commit = hub.commit(tree, author="Eve <eve@example.com> 99999999999999999999 +0000")
    limit = 2**63 - 1
    return commit, f"commit {commit} is malformed: Date field should not exceed {limit}"


def garbage_header(hub: Hub, transport: str) -> tuple[str, str]:
    tree = git(hub.path, "rev-parse", "main^{tree}").strip()
    commit = hub.commit(tree, header="garbage here\n")
    return commit, f"commit {commit} is malformed: unexpected author"


def unparsable_header(hub: Hub, transport: str) -> tuple[str, str]:
    """A header line without a space: dulwich reads no further than that."""
    tree = git(hub.path, "rev-parse", "main^{tree}").strip()
    unreadable = {
        "path": "invalid object header",
        "ssh": "not enough values to unpack (expected 2, got 1)",
    }
    return hub.commit(tree, header="garbage\n"), (
        f"an object it sent is malformed: {unreadable[transport]}"
    )


def a_blob(hub: Hub, transport: str) -> tuple[str, str]:
    return hub.write("blob", b"not a commit\n"), "it names a blob, not a commit"


def a_tree(hub: Hub, transport: str) -> tuple[str, str]:
    return git(hub.path, "rev-parse", "main^{tree}").strip(), "it names a tree, not a commit"


SSH = """#!/bin/sh
# A stand-in for ssh: run the git command (the last argument) on this machine.
for command; do :; done
exec sh -c "$command"
"""


FORGES = [
    duplicate_entry,
    unsorted_entries,
    overflowing_date,
    garbage_header,
    unparsable_header,
    a_blob,
    a_tree,
]


@pytest.mark.parametrize(
    ("forge", "transport"),
    [(f, "path") for f in FORGES] + [(f, "ssh") for f in (duplicate_entry, unparsable_header)],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_a_hostile_branch_is_refused_in_one_line_by_pull_and_clone(
    forged: tuple[Hub, gitmem.Client],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forge: Callable[[Hub, str], tuple[str, str]],
    transport: str,
) -> None:
    remote, a = forged
    url = str(remote.path)
    if transport == "ssh":
        ssh = tmp_path / "fake-ssh"
        ssh.write_text(SSH)
        ssh.chmod(0o755)
        monkeypatch.setenv("GIT_SSH_COMMAND", str(ssh))
        url = f"ssh://localhost{remote.path}"
        git(a.path, "remote", "set-url", "origin", url)
    sha, problem = forge(remote, transport)
    remote.point(sha)
    before = snapshot(a.path)
    tracking = git(a.path, "rev-parse", "origin/main")

    pulled = run(transport, "-C", str(a.path), "pull")
    cloned = run(transport, "-C", str(tmp_path), "clone", url, "b")

    refusal = f"Error: origin/main refused: {problem}; nothing was changed here\n"
    assert pulled == cloned == (1, "", refusal)
    assert snapshot(a.path) == before
    assert git(a.path, "rev-parse", "origin/main") == tracking
    assert_clean(a.path)  # git fsck: nothing of what came was kept
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ("* merge=union\n", "'* merge=union'"),
        ("blocks/**/*.md merge=gitmem\nblocks/**/*.md -merge\n", "'blocks/**/*.md -merge'"),
        ("*.md filter=evil\n", "'*.md filter=evil'"),
        (
            "*.txt working-tree-encoding=UTF-16\n",
            "'*.txt working-tree-encoding=UTF-16'",
        ),
    ],
    ids=["union", "unset", "filter", "encoding"],
)
def test_gitattributes_from_a_remote_may_set_only_gitmems_own(
    forged: tuple[Hub, gitmem.Client], tmp_path: Path, attributes: str, problem: str
) -> None:
    remote, a = forged
    git(tmp_path, "clone", "-q", str(remote.path), "c")  # plain git, no hooks
    (tmp_path / "c/.gitattributes").write_text(attributes)
    git(tmp_path / "c", "commit", "-q", "-am", "attributes")
    git(tmp_path / "c", "push", "-q")
    before = snapshot(a.path)

    done = run("path", "-C", str(a.path), "pull")

    line = attributes.splitlines().index(problem.strip("'")) + 1
    commit = git(tmp_path / "c", "rev-parse", "HEAD").strip()[:12]
    assert done[:2] == (1, "")
    assert done[2].splitlines()[:2] == [
        "Error: pull from origin/main refused; nothing was changed here:",
        f".gitattributes:{line}: {problem} is not one of gitmem's own attributes "
        "(blocks/**/*.md merge=gitmem; agents/*.yaml merge=gitmem), the only ones a store "
        f"may set (from commit {commit} by {PERSON[0]} <{PERSON[1]}>)",
    ]
    assert snapshot(a.path) == before


def test_gitattributes_keep_gitmems_own_with_comments_and_nothing_large(
    forged: tuple[Hub, gitmem.Client], tmp_path: Path
) -> None:
    remote, a = forged
    git(tmp_path, "clone", "-q", str(remote.path), "c")
    attributes = tmp_path / "c/.gitattributes"
    attributes.write_text("# set by gitmem\n" + attributes.read_text().replace(" ", "   "))
    git(tmp_path / "c", "commit", "-q", "-am", "a comment")
    git(tmp_path / "c", "push", "-q")
    assert a.pull().how == "fast-forward"

    attributes.write_text("# a comment\n" * 500)
    git(tmp_path / "c", "commit", "-q", "-am", "a large file")
    git(tmp_path / "c", "push", "-q")
    with pytest.raises(gitmem.ValidationError) as refused:
        a.pull()
    commit = git(tmp_path / "c", "rev-parse", "HEAD").strip()[:12]
    assert str(refused.value).splitlines()[1] == (
        ".gitattributes:1: 6000 bytes, more than the 4096 allowed; it may only set "
        f"gitmem's own attributes (from commit {commit} by {PERSON[0]} <{PERSON[1]}>)"
    )
    # A line git itself cannot read is refused with what arrived, as git fsck would.
    attributes.write_text("#" * 3000 + "\n")
    git(tmp_path / "c", "commit", "-q", "-am", "a long line")
    git(tmp_path / "c", "push", "-q")
    blob = git(tmp_path / "c", "rev-parse", "HEAD:.gitattributes").strip()
    with pytest.raises(gitmem.ValidationError) as refused:
        a.pull()
    assert str(refused.value) == (
        f"origin/main refused: blob {blob} (.gitattributes) has lines too long for git to "
        "read; nothing was changed here"
    )
    assert_clean(a.path)


def test_a_refused_pack_leaves_a_blob_the_branch_took_from_it(
    forged: tuple[Hub, gitmem.Client], client: gitmem.Client
) -> None:
    remote, a = forged
    # A block's file, as gitmem writes it, also in the hostile pack.
    client.blocks.create(label="twin", value="the same bytes")
    twin = remote.write("blob", (client.path / "blocks/twin.md").read_bytes())
    unsorted = list(reversed([*remote.entries("main:blocks"), ("100644", "twin.md", twin)]))
    commit = remote.with_blocks(unsorted)
    tree = git(remote.path, "rev-parse", f"{commit}^{{tree}}").strip()
    blocks = remote.tree(unsorted)
    had = gitincoming.packs(a._store.repo)
    subprocess.run(  # what a fetch writes: one pack of what the remote had and we lacked
        ["git", "pack-objects", "-q", str(a.path / ".git/objects/pack/pack")],
        cwd=remote.path,
        input="\n".join([commit, tree, blocks, twin]),
        text=True,
        check=True,
        capture_output=True,
    )
    # Meanwhile an agent writes that block: the blob is in a pack, so it is not written again.
    a.blocks.create(label="twin", value="the same bytes")
    assert not (a.path / ".git/objects" / twin[:2] / twin[2:]).exists()

    problem = gitincoming.refusal(a._store.repo, ObjectID(commit.encode()), had)

    assert problem == f"tree {blocks} is malformed: entries not sorted"
    assert gitincoming.packs(a._store.repo) == had
    assert a.blocks.retrieve("twin").value == "the same bytes"
    assert_clean(a.path)
