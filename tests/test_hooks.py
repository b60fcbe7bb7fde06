"""Plain git in a store: the installed hooks and the merge driver, run by the real
git binary (which runs the hook scripts, which run this gitmem)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import gitmem
from gitmem.cli import main
from tests.conftest import assert_clean, client_on, git

ORG = "blocks/organization.md"
QUEUE = "blocks/task_queue.md"


def run_git(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=False)


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_init_installs_stamped_hooks_and_the_merge_driver(client: gitmem.Client) -> None:
    hooks = client.path / ".git/hooks"
    for name in ("pre-commit", "pre-merge-commit", "reference-transaction"):
        text = (hooks / name).read_text()
        assert text.startswith("#!/bin/sh\n# gitmem-hook: installed by `gitmem hooks install`")
        assert f"INSTALL_PYTHON={sys.executable}\n" in text
        assert os.access(hooks / name, os.X_OK)
    driver = git(client.path, "config", "merge.gitmem.driver").strip()
    assert driver.startswith(f'{sys.executable} -c "import sys\n')
    assert driver.endswith('" merge-driver %O %A %B %P')
    assert (client.path / ".gitattributes").read_text() == (
        "blocks/**/*.md merge=gitmem\nagents/*.yaml merge=gitmem\n"
    )


def test_the_hook_refuses_a_plain_git_commit_of_an_over_limit_block(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    before = git(store, "rev-parse", "HEAD")
    replace_in(store / "blocks/system_config.md", "limit: 5000", "limit: 20")

    refused = run_git(store, "commit", "-a", "-m", "lower the limit")  # -a: git's own index

    assert refused.returncode == 1
    assert refused.stderr == (
        "blocks/system_config.md:7: value is too long: 86 characters requested, 20 allowed\n"
        "Error: gitmem: commit refused; fix the files above, git add them and commit again\n"
    )
    assert git(store, "rev-parse", "HEAD") == before
    replace_in(store / "blocks/system_config.md", "limit: 20", "limit: 200")
    git(store, "commit", "-a", "-m", "lower the limit")
    assert sample.blocks.retrieve("system_config").limit == 200
    assert_clean(store)


def test_the_hook_refuses_a_default_limit_no_block_may_have(sample: gitmem.Client) -> None:
    store = sample.path
    replace_in(store / "gitmem.yaml", "default_limit: 20000", "default_limit: 2000000")

    refused = run_git(store, "commit", "-a", "-m", "bigger blocks")

    assert refused.returncode == 1
    assert refused.stderr == (
        "gitmem.yaml:2: 'default_limit' is 2000000, over the maximum of 1000000 characters\n"
        "Error: gitmem: commit refused; fix the files above, git add them and commit again\n"
    )
    assert sample.blocks.create(label="notes").limit == 20000


def test_the_hook_checks_what_is_staged_not_the_working_tree(sample: gitmem.Client) -> None:
    store = sample.path
    replace_in(store / ORG, "08:00-18:00", "09:00-17:00")
    git(store, "add", ORG)
    replace_in(store / ORG, "read_only: false", "readonly: false")  # not staged
    git(store, "commit", "-m", "hours")
    assert "09:00-17:00" in sample.blocks.retrieve("organization").value

    git(store, "add", ORG)
    refused = run_git(store, "commit", "-m", "typo")
    assert refused.returncode == 1
    assert refused.stderr.startswith("blocks/organization.md:5: unknown key 'readonly'")


def test_the_hook_refuses_a_staged_copy_older_than_the_branch(sample: gitmem.Client) -> None:
    """git reads the index without a lock, so an agent committing between a person's
    `git add` and `git commit` can leave the index holding the block as it was
    before the agent: committing that would take the agent's line back out."""
    store = sample.path
    before = git(store, "rev-parse", f"HEAD:{QUEUE}").strip()
    sample.agents.memory("worker").memory_insert("task_queue", "[todo] T-9: agent's line")
    git(store, "update-index", "--cacheinfo", f"100644,{before},{QUEUE}")  # the stale read
    replace_in(store / ORG, "08:00-18:00", "09:00-17:00")
    git(store, "add", ORG)

    refused = run_git(store, "commit", "-m", "hours")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"{QUEUE}: the staged copy is older than the branch (an agent changed this block "
        f"after it was staged); stage it again: git add {QUEUE}\n"
    )
    git(store, "add", QUEUE)
    git(store, "commit", "-m", "hours")
    assert "T-9: agent's line" in sample.blocks.retrieve("task_queue").value
    assert "09:00-17:00" in sample.blocks.retrieve("organization").value
    assert_clean(store)


def test_the_hook_refuses_unresolved_conflict_markers_and_stray_files(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    replace_in(store / ORG, "Acme", "<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\nAcme")
    (store / "notes.txt").write_text("a note\n")
    git(store, "add", "-A")

    refused = run_git(store, "commit", "-m", "oops")

    assert refused.returncode == 1
    assert refused.stderr.split("\n")[:2] == [
        "blocks/organization.md:7: unresolved conflict (<<<<<<< ... >>>>>>> lines); "
        "resolve it first",
        "notes.txt:1: not a block or an agent manifest "
        "(a store holds blocks/<id>.md, agents/<id>.yaml and gitmem.yaml)",
    ]


def test_a_foreign_hook_is_kept_as_legacy_runs_first_and_install_is_safe_to_repeat(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    hook = store / ".git/hooks/pre-commit"
    foreign = '#!/bin/sh\necho "legacy ran" >> "$(git rev-parse --git-dir)/legacy.log"\n'
    hook.write_text(foreign)
    hook.chmod(0o755)

    first = CliRunner().invoke(main, ["-C", str(store), "hooks", "install"])
    again = CliRunner().invoke(main, ["-C", str(store), "hooks", "install"])

    assert first.stdout.startswith(
        "kept the existing pre-commit hook as pre-commit.legacy; it runs first\n"
    )
    assert again.exit_code == 0 and "legacy" not in again.stdout
    assert (store / ".git/hooks/pre-commit.legacy").read_text() == foreign
    replace_in(store / ORG, "08:00-18:00", "09:00-17:00")
    git(store, "commit", "-a", "-m", "hours")
    assert (store / ".git/legacy.log").read_text() == "legacy ran\n"

    (store / ".git/hooks/pre-commit.legacy").write_text("#!/bin/sh\necho no >&2; exit 7\n")
    replace_in(store / ORG, "09:00-17:00", "10:00-16:00")
    refused = run_git(store, "commit", "-a", "-m", "hours")
    assert (refused.returncode, refused.stderr) == (1, "no\n")
    assert "09:00-17:00" in sample.blocks.retrieve("organization").value


def test_uninstall_removes_the_hooks_and_driver_and_puts_back_the_legacy_hook(
    sample: gitmem.Client,
) -> None:
    store, hooks = sample.path, sample.path / ".git/hooks"
    foreign = '#!/bin/sh\necho "legacy ran" >> "$(git rev-parse --git-dir)/legacy.log"\n'
    (hooks / "pre-commit").write_text(foreign)
    (hooks / "pre-commit").chmod(0o755)
    CliRunner().invoke(main, ["-C", str(store), "hooks", "install"])
    names = git(store, "config", "--local", "--list", "--name-only").split()
    assert "merge.gitmem.driver" in names

    first = CliRunner().invoke(main, ["-C", str(store), "hooks", "uninstall"])
    again = CliRunner().invoke(main, ["-C", str(store), "hooks", "uninstall"])

    assert (first.exit_code, first.output) == (
        0,
        f"removed the pre-commit, pre-merge-commit, reference-transaction hooks from {hooks}\n"
        "put back the pre-commit hook that was kept as pre-commit.legacy\n"
        "removed the merge driver merge.gitmem\n",
    )
    assert (again.exit_code, again.output) == (
        0,
        "gitmem's hooks and merge driver are not installed here; nothing to do\n",
    )
    assert sorted(p.name for p in hooks.iterdir() if not p.name.endswith(".sample")) == [
        "pre-commit"
    ]
    assert (hooks / "pre-commit").read_text() == foreign
    assert git(store, "config", "--local", "--list", "--name-only").split() == [
        name for name in names if name not in ("merge.gitmem.name", "merge.gitmem.driver")
    ]
    # Plain git no longer asks gitmem: an over-limit block commits, and the
    # hook that was there before runs again on its own.
    replace_in(store / ORG, "limit: 20000", "limit: 10")
    git(store, "commit", "-q", "-a", "-m", "lower the limit")
    assert (store / ".git/legacy.log").read_text() == "legacy ran\n"


def test_uninstall_leaves_hooks_that_are_not_gitmems(client: gitmem.Client) -> None:
    hook = client.path / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")

    done = CliRunner().invoke(main, ["-C", str(client.path), "hooks", "uninstall"])

    assert done.exit_code == 0
    assert done.output.startswith("removed the pre-merge-commit, reference-transaction hooks from ")
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    installed = CliRunner().invoke(main, ["-C", str(client.path), "hooks", "install"])
    assert installed.output.startswith(
        "kept the existing pre-commit hook as pre-commit.legacy; it runs first\n"
    )


def test_hooks_never_run_code_from_the_store(sample: gitmem.Client) -> None:
    store = sample.path
    (store / "gitmem").mkdir()
    (store / "gitmem/__init__.py").write_text("open('/dev/null'); raise SystemExit('pwned')\n")
    (store / "gitmem.py").write_text("raise SystemExit('pwned')\n")
    replace_in(store / ORG, "08:00-18:00", "09:00-17:00")
    git(store, "add", ORG)

    done = run_git(store, "commit", "-m", "hours")

    assert (done.returncode, done.stderr) == (0, "")


# -- plain git merge ------------------------------------------------------------


def branches(store: Path) -> None:
    """A branch `other` made from main, for each side to change."""
    git(store, "branch", "other")


def test_git_merge_of_two_branches_that_each_appended_to_a_block_keeps_both(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    branches(store)
    sample.agents.memory("supervisor").memory_insert("task_queue", "[todo] T-2: call Maria")
    git(store, "checkout", "-q", "other")
    with client_on(store, "other") as other:
        other.agents.memory("worker").memory_insert("task_queue", "[todo] T-3: file report")
        other.agents.blocks.detach("handoff_context", agent_id="worker")
    git(store, "checkout", "-q", "main")
    sample.agents.blocks.attach("user_preferences", agent_id="worker")

    git(store, "merge", "-q", "-m", "merge other", "other")

    assert sample.blocks.retrieve("task_queue").value.split("\n")[-2:] == [
        "[todo] T-2: call Maria",
        "[todo] T-3: file report",
    ]
    blocks = sample.agents.retrieve("worker").block_ids
    assert "user_preferences" in blocks and "handoff_context" not in blocks
    assert git(store, "log", "-1", "--format=%p").count(" ") == 1  # a real merge commit
    assert_clean(store)


def test_git_merge_of_real_conflicts_leaves_markers_and_fails(sample: gitmem.Client) -> None:
    store = sample.path
    branches(store)
    sample.blocks.update("organization", limit=15000)
    sample.agents.memory("worker").memory_replace("organization", "08:00-18:00", "09:00-17:00")
    git(store, "checkout", "-q", "other")
    with client_on(store, "other") as other:
        other.blocks.update("organization", limit=10000)
        other.agents.memory("worker").memory_replace("organization", "08:00-18:00", "07:00-19:00")
    git(store, "checkout", "-q", "main")

    merged = run_git(store, "merge", "-m", "merge other", "other")

    assert merged.returncode == 1
    assert "CONFLICT (content): Merge conflict in blocks/organization.md" in merged.stdout
    text = (store / ORG).read_text()
    assert "<<<<<<< ours\nlimit: 15000\n=======\nlimit: 10000\n>>>>>>> theirs\n" in text
    assert "<<<<<<< ours\nAcme Robotics builds warehouse robots. Support hours: 09:00-17:00" in text
    assert git(store, "status", "--porcelain") == "UU blocks/organization.md\n"

    # Resolving by hand and committing goes through the hook like any commit.
    replace_in(
        store / ORG,
        text,
        text.split("<<<<<<< ours\n", 1)[0] + "limit: 15000\n"
        "read_only: false\n---\nSupport hours: 08:00-20:00 CET.\n",
    )
    git(store, "add", ORG)
    git(store, "commit", "-q", "--no-edit")
    assert sample.blocks.retrieve("organization").value == "Support hours: 08:00-20:00 CET."
    assert_clean(store)


def merge_driver(tmp_path: Path, base: bytes, ours: bytes, theirs: bytes) -> tuple[Result, Path]:
    """Run the merge driver as git does on blocks/notes.md; the result is left in ours."""
    files = [tmp_path / "O", tmp_path / "A", tmp_path / "B"]
    for path, data in zip(files, (base, ours, theirs), strict=True):
        path.write_bytes(data)
    args = ["-C", str(tmp_path), "merge-driver", *map(str, files), "blocks/notes.md"]
    return CliRunner().invoke(main, args), files[1]


def test_the_merge_driver_refuses_a_merge_over_the_limit(tmp_path: Path) -> None:
    def block(value: str) -> bytes:
        return f"---\nlabel: notes\nlimit: 10\n---\n{value}\n".encode()

    done, ours = merge_driver(tmp_path, block("abc"), block("abc\ndef"), block("abc\nghi"))

    assert done.exit_code == 1
    assert done.stderr == (
        "Error: blocks/notes.md:7: value is too long: 11 characters requested, 10 allowed; "
        "fix the merged file before committing\n"
    )
    assert ours.read_bytes() == (
        b"---\nlabel: notes\ndescription: ''\nlimit: 10\nread_only: false\n---\nabc\ndef\nghi\n"
    )


def test_the_merge_driver_refuses_a_result_with_a_conflict_marker(tmp_path: Path) -> None:
    """A side committed past the hook with a leftover marker merges cleanly by
    lines; the result is still refused, with the line, as everywhere."""
    done, ours = merge_driver(
        tmp_path,
        b"---\nlabel: notes\nlimit: 10\n---\nabc\n",
        b"---\nlabel: notes\nlimit: 20\n---\nabc\n",
        b"---\nlabel: notes\nlimit: 10\n---\nabc\n<<<<<<< yours\n",
    )

    assert done.exit_code == 1
    assert done.stderr == (
        "Error: blocks/notes.md:6: unresolved conflict (<<<<<<< ... >>>>>>> lines); "
        "resolve it first; fix the merged file before committing\n"
    )
    assert ours.read_bytes() == b"---\nlabel: notes\nlimit: 20\n---\nabc\n<<<<<<< yours\n"


def test_the_merge_driver_exits_3_on_conflicts_as_its_help_says(tmp_path: Path) -> None:
    done, ours = merge_driver(
        tmp_path,
        b"---\nlabel: notes\n---\nSupport hours: 08:00-18:00\n",
        b"---\nlabel: notes\n---\nSupport hours: 09:00-17:00\n",
        b"---\nlabel: notes\n---\nSupport hours: 07:00-19:00\n",
    )
    help_text = CliRunner().invoke(main, ["merge-driver", "--help"]).output

    assert done.exit_code == 3
    assert done.stderr.endswith(
        "Error: blocks/notes.md: conflicts left between <<<<<<< and >>>>>>> markers\n"
    )
    assert "<<<<<<< ours\nSupport hours: 09:00-17:00\n=======\n" in ours.read_text()
    assert "Conflicts leave markers in OURS and exit 3" in " ".join(help_text.split())


@pytest.mark.parametrize("name", ["post-checkout", "../pre-commit"])
def test_unknown_hooks_are_refused(client: gitmem.Client, name: str) -> None:
    done = CliRunner().invoke(main, ["-C", str(client.path), "hook", name])
    assert done.exit_code == 1
    assert done.stderr == (
        f"Error: gitmem has no {name!r} hook "
        "(it has pre-commit, pre-merge-commit, reference-transaction)\n"
    )


# -- plain git can't undo agents -------------------------------------------------

AGENT_LINE = "Agent line"


def agent_writes(client: gitmem.Client) -> str:
    """The worker inserts a line into organization; returns the commit it made."""
    client.agents.memory("worker").memory_insert("organization", AGENT_LINE)
    return git(client.path, "rev-parse", "--short", "HEAD").strip()


def refusal(path: str, commit: str) -> str:
    return (
        f"{path}: your copy started from an older version than the branch: "
        f"{commit} (memory_insert by worker) changed it since, and committing your copy "
        f"would undo that; merge them with: gitmem commit {path}\n"
    )


def person_edits(store: Path) -> None:
    with open(store / ORG, "a") as f:
        f.write("Person line\n")


def assert_both_lines_once(client: gitmem.Client) -> None:
    value = client.blocks.retrieve("organization").value.split("\n")
    assert (value.count(AGENT_LINE), value.count("Person line")) == (1, 1)


@pytest.mark.parametrize(
    "how", ["commit -a", "add, agent, commit", "agent, add, commit", "commit PATH"]
)
def test_a_copy_older_than_the_branch_is_refused_then_gitmem_commit_merges_it(
    sample: gitmem.Client, how: str
) -> None:
    """The person's copy was taken before the agent wrote: committing it with plain
    git would take the agent's line back out."""
    store = sample.path
    person_edits(store)
    if how.startswith("add"):
        git(store, "add", ORG)
    commit = agent_writes(sample)
    if how.startswith("agent, add"):
        git(store, "add", ORG)
    args = {"commit -a": ["-a"], "commit PATH": ["--", ORG]}.get(how, [])
    before = git(store, "rev-parse", "HEAD")

    refused = run_git(store, "commit", "-m", "person", *args)

    assert (refused.returncode, refused.stderr) == (
        1,
        refusal(ORG, commit)
        + "Error: gitmem: commit refused; fix the files above, git add them and commit again\n",
    )
    assert git(store, "rev-parse", "HEAD") == before
    done = CliRunner().invoke(main, ["-C", str(store), "commit", ORG])
    assert done.exit_code == 0, done.output
    assert_both_lines_once(sample)
    assert_clean(store)


def test_the_index_never_stages_the_removal_of_an_agents_line(sample: gitmem.Client) -> None:
    store = sample.path
    person_edits(store)
    agent_writes(sample)
    assert git(store, "diff", "--cached", "--stat") == ""
    assert git(store, "status", "--porcelain") == " M blocks/organization.md\n"


def test_git_restore_after_an_agent_write_restores_the_agents_version(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    person_edits(store)
    agent_writes(sample)
    git(store, "restore", ORG)
    assert AGENT_LINE in (store / ORG).read_text()
    assert run_git(store, "commit", "-a", "-m", "nothing").returncode == 1  # nothing to commit
    assert sample.blocks.retrieve("organization").value.endswith(AGENT_LINE)
    assert_clean(store)


def test_a_stash_of_a_copy_older_than_the_branch_is_refused(sample: gitmem.Client) -> None:
    store = sample.path
    person_edits(store)
    commit = agent_writes(sample)

    refused = run_git(store, "stash")

    assert refused.returncode != 0
    assert refusal(ORG, commit) in refused.stderr
    assert git(store, "stash", "list") == ""
    assert "Person line" in (store / ORG).read_text()  # nothing was reset
    done = CliRunner().invoke(main, ["-C", str(store), "commit"])
    assert done.exit_code == 0, done.output
    assert_both_lines_once(sample)
    assert_clean(store)


def test_a_stash_taken_before_the_agent_wrote_pops_merged(sample: gitmem.Client) -> None:
    store = sample.path
    person_edits(store)
    git(store, "stash")
    agent_writes(sample)
    git(store, "stash", "pop")
    done = CliRunner().invoke(main, ["-C", str(store), "commit"])
    assert done.exit_code == 0, done.output
    assert_both_lines_once(sample)
    assert_clean(store)


def test_resolving_a_git_merge_while_an_agent_writes_keeps_the_agents_line(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    branches(store)
    sample.agents.memory("worker").memory_replace("organization", "08:00-18:00", "09:00-17:00")
    git(store, "checkout", "-q", "other")
    with client_on(store, "other") as other:
        other.agents.memory("worker").memory_replace("organization", "08:00-18:00", "07:00-19:00")
    git(store, "checkout", "-q", "main")
    assert run_git(store, "merge", "-m", "merge other", "other").returncode == 1
    commit = agent_writes(sample)  # while the person resolves the conflict
    hours = (
        "Acme Robotics builds warehouse robots. Support hours: 08:00-20:00 CET, Monday to Friday."
    )
    text = (store / ORG).read_text()
    (store / ORG).write_text(
        re.sub(r"<<<<<<< ours\n.*>>>>>>> theirs\n", f"{hours}\n", text, flags=re.S)
    )
    git(store, "add", ORG)

    refused = run_git(store, "commit", "--no-edit")

    assert refused.returncode == 1
    assert refused.stderr.startswith(refusal(ORG, commit))
    done = CliRunner().invoke(main, ["-C", str(store), "commit", ORG])
    assert done.exit_code == 0, done.output
    git(store, "commit", "--no-edit")  # the merge itself
    value = sample.blocks.retrieve("organization").value.split("\n")
    assert (value[0], value[-1], len(value)) == (hours, AGENT_LINE, 4)
    assert_clean(store)


def test_a_person_may_revert_an_agents_commit(sample: gitmem.Client) -> None:
    store = sample.path
    commit = agent_writes(sample)
    git(store, "revert", "--no-edit", commit)
    assert AGENT_LINE not in sample.blocks.retrieve("organization").value
    assert_clean(store)


def test_a_copy_taken_again_from_the_branch_commits_with_plain_git(
    sample: gitmem.Client,
) -> None:
    store = sample.path
    person_edits(store)
    agent_writes(sample)
    git(store, "checkout", "--", ORG)  # the person drops their change: the file is the branch's
    person_edits(store)
    git(store, "add", ORG)
    git(store, "commit", "-q", "-m", "person")
    assert_both_lines_once(sample)
    assert_clean(store)
