"""Which state git is in: where HEAD is, and what git is in the middle of (a
rebase, merge, bisect, ...). None of these stops gitmem: agents go on with the
store's branch, and the index and working tree are left to the person until
HEAD is back on that branch with git at rest."""

from __future__ import annotations

from dataclasses import dataclass

from gitmem.git.repo import HEADS, GitRepo

# What git leaves in .git while an operation waits for the person, first match
# wins ("rebase-apply" is git am's too), and how the person goes on from there.
_UNDER_WAY = (
    ("rebase-merge", "rebase", "git rebase --continue, or git rebase --abort"),
    ("rebase-apply/applying", "am", "git am --continue, or git am --abort"),
    ("rebase-apply", "rebase", "git rebase --continue, or git rebase --abort"),
    ("MERGE_HEAD", "merge", "git commit, or git merge --abort"),
    ("CHERRY_PICK_HEAD", "cherry-pick", "git cherry-pick --continue, or git cherry-pick --abort"),
    ("REVERT_HEAD", "revert", "git revert --continue, or git revert --abort"),
    ("BISECT_LOG", "bisect", "git bisect reset"),
)


@dataclass(frozen=True)
class GitState:
    """``branch``: the store's; ``head_branch``: the one HEAD names (None:
    detached at ``head``); ``operation``: what git is in the middle of, and
    ``finish``: the commands that end it."""

    branch: str
    head_branch: str | None
    head: str | None
    operation: str | None = None
    finish: str | None = None

    @property
    def at_rest(self) -> bool:
        """HEAD is on the store's branch and git is in the middle of nothing: the
        working tree may be committed."""
        return self.head_branch == self.branch and self.operation is None

    def describe(self) -> str | None:
        """One line for people (``HEAD detached at 6953c14; agents write to main``);
        None when git is at rest on the store's branch."""
        if self.at_rest:
            return None
        said = [f"{self.operation} in progress"] if self.operation else []
        if self.head_branch is None:
            said.append(f"HEAD detached at {(self.head or '')[:7]}")
        elif self.head_branch != self.branch:
            said.append(f"on branch {self.head_branch}")
        return "; ".join([*said, f"agents write to {self.branch}"])

    def refusal(self, what: str) -> str:
        """Why ``what``, which needs the working tree, cannot be done now, and what to do."""
        if self.operation:
            todo = f"finish the {self.operation} first ({self.finish})"
        else:
            todo = f"run 'git checkout {self.branch}' first"
        return f"{what}: {self.describe()}; {todo}"


def read_state(repo: GitRepo) -> GitState:
    """The state git is in now."""
    head_branch = repo.head_branch()
    head = repo.head_commit()
    under_way = (u[1:] for u in _UNDER_WAY if (repo.gitdir / u[0]).exists())
    operation, finish = next(under_way, (None, None))
    return GitState(
        repo.branch,
        None if head_branch is None else head_branch.decode().removeprefix(HEADS.decode()),
        None if head is None else head.decode(),
        operation,
        finish,
    )
