"""What a failing disk or a hostile working tree must not break: a full disk
(an operation is reported done and its checkout finished by the next one, or
not done at all), names that are not UTF-8, trees deeper than Python's
recursion, and clones that fail or are killed (issue 18)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import gitmem
from tests.conftest import assert_clean, git


def _gitmem(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gitmem", "-C", str(store), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: a file system that really fills up."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _fill(mount: Path, leave_pages: int) -> Path:
    """Fill the file system at ``mount`` but ``leave_pages`` pages."""
    st = os.statvfs(mount)
    filler = mount / "filler"
    filler.write_bytes(b"\0" * ((st.f_bavail - leave_pages) * st.f_frsize))
    assert os.statvfs(mount).f_bavail == leave_pages
    return filler


def test_a_disk_full_after_the_branch_moved_is_done_and_the_next_operation_checks_out(
    small_fs: Path,
) -> None:
    store = small_fs / "mem"
    with gitmem.Client.init(store) as client:
        client.blocks.create(label="big", value="x" * 19_000, id="big")
    old = git(store, "rev-parse", "HEAD")
    # Room for the lock record, the new objects (a few bytes each: the value
    # compresses) and the ref, not for the 19 KB file the checkout writes.
    filler = _fill(small_fs, leave_pages=7)

    done = _gitmem(store, "blocks", "update", "big", "--value", "y" * 19_000)

    assert (done.returncode, done.stderr) == (0, "")
    assert git(store, "rev-parse", "HEAD") != old
    assert git(store, "show", "HEAD:blocks/big.md").endswith("y" * 19_000 + "\n")
    assert (store / "blocks" / "big.md").read_text().endswith("x" * 19_000 + "\n")  # not yet
    filler.unlink()
    # Plain git would commit the old file back over the update: the hook says so.
    refused = subprocess.run(
        ["git", "commit", "-qam", "person"], cwd=store, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "an operation moved the branch but could not finish the index" in refused.stderr
    assert git(store, "show", "HEAD:blocks/big.md").endswith("y" * 19_000 + "\n")
    # gitmem status finishes the checkout first; so would the next operation.
    assert _gitmem(store, "status").returncode == 0
    assert (store / "blocks" / "big.md").read_text().endswith("y" * 19_000 + "\n")
    assert_clean(store)
    done = _gitmem(store, "blocks", "create", "--label", "small", "--value", "s")
    assert done.returncode == 0, done.stderr
    assert (store / "blocks" / "big.md").read_text().endswith("y" * 19_000 + "\n")
    assert_clean(store)
    assert not list((store / ".git" / "gitmem").glob("tmp-*"))


# -- names that are not UTF-8, trees deeper than any id --------------------------

LATIN1 = "caf\xe9".encode("latin-1")  # café, as a Latin-1 file system writes it


_BAD_NAME = (
    "blocks/caf\\xe9.md: not a block or manifest: its name has bytes that are not "
    "UTF-8, control characters or a backslash; rename it (git mv)"
)


def _stage_latin1_names(store: Path) -> None:
    (store / "blocks").mkdir(exist_ok=True)
    for name in (LATIN1 + b".txt", b"blocks/" + LATIN1 + b".md"):
        with open(os.path.join(os.fsencode(store), name), "wb") as f:
            f.write(b"---\nlabel: cafe\n---\nx\n")
    git(store, "add", "-A")


def test_names_that_are_not_utf8_are_strays_with_escaped_names(client: gitmem.Client) -> None:
    _stage_latin1_names(client.path)
    (client.path / "blocks" / "good.md").write_text("---\nlabel: good\n---\nsaved\n")

    done = _gitmem(client.path, "status")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        f"new\tblocks/caf\\xe9.md\t{_BAD_NAME}",
        "new\tblocks/good.md\tvalid",
    ]
    done = _gitmem(client.path, "commit")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        _BAD_NAME,
        "Error: 1 file(s) not committed; fix them and commit again",
    ]
    assert git(client.path, "show", "HEAD:blocks/good.md").endswith("saved\n")


def test_a_watcher_goes_on_committing_saves_beside_a_name_that_is_not_utf8(
    client: gitmem.Client,
) -> None:
    _stage_latin1_names(client.path)
    problems: list[str] = []
    with client.watch(report=problems.append):
        (client.path / "blocks" / "good.md").write_text("---\nlabel: good\n---\nsaved\n")
        _wait_for(lambda: "blocks/good.md" in git(client.path, "ls-tree", "-r", "HEAD"))
    # The staged name may be reported (when its stat cannot be trusted, the file
    # is read), and only as itself.
    assert set(problems) <= {_BAD_NAME}


def _wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.05)


@pytest.fixture
def nest() -> Iterator[Callable[[Path, int], None]]:
    """Make ``depth`` directories ``d``, each in the one before, under a directory;
    removed again level by level afterwards (pytest's recursive clean-up of old
    tmp_path directories would hit Python's recursion limit on them). Depth 0
    makes nothing: levels moved under that directory are removed afterwards."""
    made: list[Path] = []

    def make(top: Path, depth: int) -> None:
        made.append(top)
        if not depth:
            return
        fd = os.open(top, os.O_RDONLY)
        try:
            for _ in range(depth):
                os.mkdir("d", dir_fd=fd)
                inner = os.open("d", os.O_RDONLY, dir_fd=fd)
                os.close(fd)
                fd = inner
            with open(os.open("x.md", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
                f.write("---\nlabel: deep\n---\nx\n")
        finally:
            os.close(fd)

    yield make
    for top in made:
        level, n = top / "d", 0
        while level.is_dir():  # cut off the next level, then remove this shallow one
            below = top / f"level-{n}"
            if (level / "d").is_dir():
                os.rename(level / "d", below)
            shutil.rmtree(level)
            level, n = below, n + 1


def test_status_and_commit_walk_any_depth(
    client: gitmem.Client, nest: Callable[[Path, int], None]
) -> None:
    (client.path / "blocks").mkdir()
    nest(client.path / "blocks", 1_200)
    (client.path / "blocks" / "good.md").write_text("---\nlabel: good\n---\nsaved\n")

    done = _gitmem(client.path, "status")
    assert (done.returncode, done.stdout, done.stderr) == (0, "new\tblocks/good.md\tvalid\n", "")
    done = _gitmem(client.path, "commit")
    assert (done.returncode, done.stderr) == (0, "")
    assert git(client.path, "show", "HEAD:blocks/good.md").endswith("saved\n")


def test_a_watcher_whose_file_watch_dies_stops_with_an_error(
    client: gitmem.Client, tmp_path: Path, nest: Callable[[Path, int], None]
) -> None:
    (client.path / "blocks").mkdir()
    outside = tmp_path / "deep"
    outside.mkdir()
    nest(outside, 1_200)
    watch = subprocess.Popen(
        [sys.executable, "-m", "gitmem", "-C", str(client.path), "watch"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stderr is not None
        assert watch.stderr.readline().startswith("watching ")
        os.rename(outside / "d", client.path / "blocks" / "d")
        nest(client.path / "blocks", 0)  # where the levels are now, to remove them
        (client.path / "blocks" / "good.md").write_text("---\nlabel: good\n---\nsaved\n")
        # Deaf is the one thing it may not be: it commits the save, or stops.
        _wait_for(
            lambda: (
                watch.poll() is not None
                or "blocks/good.md" in git(client.path, "ls-tree", "-r", "HEAD")
            )
        )
        if watch.poll() is not None:
            assert watch.wait() == 1
            assert watch.stderr.read() == (
                f"Error: watching {client.path} failed (RecursionError: maximum recursion "
                "depth exceeded); stopping rather than missing saves and commits\n"
            )
    finally:
        watch.kill()
        watch.wait()
        if watch.stderr:
            watch.stderr.close()


def test_a_watcher_that_cannot_watch_the_tree_says_so(
    client: gitmem.Client, nest: Callable[[Path, int], None]
) -> None:
    (client.path / "blocks").mkdir()
    nest(client.path / "blocks", 1_200)
    done = subprocess.run(
        [sys.executable, "-m", "gitmem", "-C", str(client.path), "watch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode == 0:
        pytest.skip("this watchdog watches any depth")
    assert (done.returncode, done.stderr) == (
        1,
        f"Error: cannot watch {client.path}: RecursionError: maximum recursion depth exceeded\n",
    )


# -- clone -------------------------------------------------------------------------


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A store with enough blocks that cloning it takes a while."""
    with gitmem.Client.init(tmp_path / "remote") as c:
        for i in range(40):
            c.blocks.create(label=f"note {i}", value=f"note {i}\n" * 50, id=f"notes/n{i:02}")
        return c.path


def _cloning(tmp_path: Path) -> list[Path]:
    """The clone's directory, being built beside where it goes."""
    return list(tmp_path.glob(".copy.clone-*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "moment",
    [
        "started",  # its directory is there
        "fetched",  # objects arrived
        "checking out",  # blocks are being written
    ],
)
def test_a_killed_clone_leaves_nothing_in_the_way(
    remote: Path, tmp_path: Path, moment: str
) -> None:
    copy = tmp_path / "copy"
    reached = {
        "started": lambda d: (d / ".git").is_dir(),
        "fetched": lambda d: any((d / ".git" / "objects" / "pack").glob("*.pack")),
        "checking out": lambda d: (d / "blocks").is_dir(),
    }[moment]
    clone = subprocess.Popen(
        [sys.executable, "-m", "gitmem", "clone", str(remote), str(copy)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(
            lambda: clone.poll() is not None or any(map(reached, [copy, *_cloning(tmp_path)]))
        )
    finally:
        clone.kill()
        clone.wait()

    if copy.exists():  # it finished first: then it is whole
        assert git(copy, "rev-parse", "HEAD") == git(remote, "rev-parse", "HEAD")
        assert (copy / ".git" / "hooks" / "pre-commit").exists()
        assert_clean(copy)
        return
    assert _gitmem(tmp_path, "clone", str(remote), str(copy)).returncode == 0
    assert git(copy, "rev-parse", "HEAD") == git(remote, "rev-parse", "HEAD")
    assert (copy / ".git" / "hooks" / "pre-commit").exists()
    assert_clean(copy)
    assert _cloning(tmp_path) == []  # what the killed one left is gone


def test_a_failed_clone_leaves_nothing(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    git(other, "commit", "-q", "--allow-empty", "-m", "empty")
    (tmp_path / "copy").mkdir()  # an empty directory may be cloned into

    done = _gitmem(tmp_path, "clone", str(other), "copy")

    assert (done.returncode, done.stderr) == (
        1,
        f"Error: {other} is not a gitmem store: it has no gitmem.yaml\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "home", "other"]
    assert list((tmp_path / "copy").iterdir()) == []


@pytest.mark.parametrize("pages", [0, 2])
def test_a_disk_full_before_the_branch_moves_changes_nothing(small_fs: Path, pages: int) -> None:
    store = small_fs / "mem"
    with gitmem.Client.init(store) as client:
        client.blocks.create(label="big", value="x" * 19_000, id="big")
    old = git(store, "rev-parse", "HEAD")
    filler = _fill(small_fs, leave_pages=pages)

    done = _gitmem(store, "blocks", "update", "big", "--value", "y" * 19_000)

    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        "Error: No space left on device\n",
    )
    assert git(store, "rev-parse", "HEAD") == old
    filler.unlink()
    assert_clean(store)
    done = _gitmem(store, "blocks", "update", "big", "--value", "z")
    assert done.returncode == 0, done.stderr
    assert_clean(store)
