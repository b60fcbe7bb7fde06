"""Remotes, for sync: fetch and push over any transport dulwich speaks (local
paths, file://, ssh://, http(s)://) with no git binary, and the history
questions a pull asks (merge base, what changed between two commits).

Remotes are ordinary git remotes in ``.git/config``; plain ``git remote``,
``git fetch`` and ``git push`` see the same ones. Nothing fetched is run:
dulwich runs no hooks, and a store's config never comes from its content.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Set
from contextlib import contextmanager
from dataclasses import dataclass

from dulwich.client import (
    GitClient,
    HTTPUnauthorized,
    LocalGitClient,
    get_transport_and_path,
)
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.file import FileLocked
from dulwich.graph import find_merge_base
from dulwich.objects import ObjectID
from dulwich.pack import UnpackedObject
from dulwich.refs import Ref
from dulwich.repo import Repo

from gitmem.errors import ConflictError, GitmemError, NotFoundError, ValidationError
from gitmem.git import fsck as gitcheck
from gitmem.git import incoming as gitincoming
from gitmem.git import safefs
from gitmem.git.lock import flocked, with_git_lock
from gitmem.git.repo import GitRepo
from gitmem.git.snapshot import FileEntry, Snapshot, diff
from gitmem.git.tree import EMPTY
from gitmem.git.walk import is_ancestor

Progress = Callable[[bytes], None]
HEADS = "refs/heads/"
# Stricter than git: a safe config key and ref part wherever it is used.
_REMOTE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


class PushRejected(ConflictError):
    """The remote branch moved: it has commits this store has not merged yet."""


@dataclass(frozen=True)
class Remote:
    """Where a pull or push goes: a configured remote (``name``) or a URL given
    directly (``name`` None), and the branch there (``ref``)."""

    name: str | None
    url: str
    ref: bytes

    @property
    def label(self) -> str:
        """``origin/main``, or the URL and branch for an unnamed remote."""
        branch = self.ref.decode(errors="replace").removeprefix(HEADS)
        return f"{self.name}/{branch}" if self.name else f"{self.url} {branch}"

    @property
    def tracking(self) -> Ref | None:
        """The remote-tracking ref git keeps for the branch (refs/remotes/origin/main)."""
        if self.name is None or not self.ref.startswith(HEADS.encode()):
            return None
        return Ref(b"refs/remotes/%s/%s" % (self.name.encode(), self.ref[len(HEADS) :]))


def remotes(repo: GitRepo) -> dict[str, str]:
    """The configured remotes: name -> URL."""
    config = repo.git.get_config()
    found = {}
    for section in config.sections():
        if len(section) == 2 and section[0] == b"remote":
            try:
                found[section[1].decode()] = config.get(section, b"url").decode()
            except KeyError:
                continue
    return found


def add_remote(repo: GitRepo, name: str, url: str) -> None:
    """Configure remote ``name`` as git does (fetching every branch into refs/remotes/NAME/)."""
    if not _REMOTE_NAME.fullmatch(name):
        raise ValidationError(
            f"invalid remote name {name!r}: use lower-case letters, digits, '.', '_' and '-'"
        )
    if name in remotes(repo):
        raise ValidationError(f"remote {name!r} already exists ({remotes(repo)[name]})")
    repo.set_config(("remote", name), "url", url)
    repo.set_config(("remote", name), "fetch", f"+refs/heads/*:refs/remotes/{name}/*")


def find_remote(repo: GitRepo, given: str | None) -> Remote:
    """The remote named ``given`` (or a URL), else the branch's upstream, else origin."""
    branch = repo.branch_ref().decode().removeprefix(HEADS)
    upstream = repo.config(("branch", branch), "remote")
    name = given or upstream or "origin"
    configured = remotes(repo)
    if name in configured:
        merge = repo.config(("branch", branch), "merge") if name == upstream else None
        return Remote(name, configured[name], (merge or HEADS + branch).encode())
    if given is not None and _looks_like_url(given):
        return Remote(None, given, (HEADS + branch).encode())
    if given is None:
        raise NotFoundError("no remote to sync with; add one with 'gitmem remote add origin URL'")
    raise NotFoundError(f"no remote {given!r}; add it with 'gitmem remote add {given} URL'")


def _looks_like_url(text: str) -> bool:
    return "://" in text or ":" in text or "/" in text or text in (".", "..")


def _is_local(url: str) -> bool:
    """Whether ``url`` is a path on this machine (not a URL, not scp-like host:path)."""
    return "://" not in url and ":" not in url.split("/", 1)[0]


def _location(repo: GitRepo, url: str) -> str:
    """Where ``url`` points: a relative local path is taken from the store's
    top directory, as git takes it, whatever directory gitmem runs in."""
    return os.path.join(repo.root, url) if _is_local(url) else url


def _transport(repo: GitRepo, url: str) -> tuple[GitClient, str]:
    # dulwich reads core.sshCommand from the config; the environment, which
    # git also honours, is ours to pass.
    ssh = os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH") or None
    config = repo.git.get_config_stack()
    try:
        return get_transport_and_path(_location(repo, url), config=config, ssh_command=ssh)
    except ValueError as e:
        raise ValidationError(f"{url}: not a Git URL or path ({e})") from None


@contextmanager
def _talking_to(url: str) -> Iterator[None]:
    """Transport failures as one line naming the remote."""
    try:
        yield
    except NotGitRepository:
        raise NotFoundError(f"{url}: not a Git repository") from None
    except HTTPUnauthorized:
        raise GitmemError(f"{url}: authentication failed") from None
    except (GitProtocolError, HangupException, OSError) as e:
        raise GitmemError(f"{url}: {e}") from None


def fetch(repo: GitRepo, remote: Remote, progress: Progress | None = None) -> ObjectID | None:
    """Bring the objects of ``remote.ref`` into the store and return its commit
    (None: the remote has no such branch). Our branch is not touched; the
    remote-tracking ref names the commit only once its objects are on disk."""
    client, path = _transport(repo, remote.url)
    objects = repo.git.object_store
    advertised: list[ObjectID | None] = []

    def wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
        # The commit the pack is made for. The refs a fetch returns are no
        # proof: dulwich reads a local remote's refs again after the pack, so a
        # push landing in between named a commit that never arrived.
        sha = refs.get(Ref(remote.ref))
        advertised.append(sha)
        return [sha] if sha and sha not in objects else []

    with _talking_to(remote.url), _transferring(repo):
        had = gitincoming.packs(repo)
        try:
            client.fetch(path.encode(), repo.git, determine_wants=wants, progress=progress)
        # dulwich could not even read or index it. (1.2 raises ValueError for a
        # commit header line without a space.)
        except (*gitcheck.MALFORMED, ValueError) as e:
            raise _refused(remote, f"an object it sent is malformed: {e}") from None
        # dulwich fsyncs a pack it received, not its rename into objects/pack/.
        safefs.fsync(os.path.join(objects.path, "pack"))
        sha = advertised[-1] if advertised else None
        if sha is None:
            return None
        problem = gitincoming.refusal(repo, sha, had)
        if problem is not None:
            raise _refused(remote, problem)
        if remote.tracking is not None:
            _set_tracking(repo, remote.tracking, sha, f"fetch: {remote.label}")
    return sha


def _refused(remote: Remote, problem: str) -> ValidationError:
    return ValidationError(f"{remote.label} refused: {problem}; nothing was changed here")


@contextmanager
def _transferring(repo: GitRepo) -> Iterator[None]:
    """Let one fetch or push of this store run at a time. dulwich names a pack
    after the objects in it: two processes fetching (or pushing) the same
    objects wrote one pack file and one index each under the same names, and
    the index left could describe the other pack. The store lock stays free:
    agents keep writing while a slow remote answers."""
    with flocked(repo.gitdir / "gitmem-transfer.flock"):
        yield


def _set_tracking(repo: GitRepo, tracking: Ref, sha: ObjectID, message: str) -> None:
    """Point a remote-tracking ref at ``sha`` (its objects are in the store),
    waiting for another process of this store that is moving it too."""
    with_git_lock(
        lambda: repo.git.refs.set_if_equals(tracking, None, sha, message=message.encode())
    )


def push(repo: GitRepo, remote: Remote, progress: Progress | None = None) -> bool:
    """Move the remote branch to our head if it is in our history (True), or
    say it has it already (False). Raises PushRejected if it moved meanwhile.
    A named remote becomes the branch's upstream if it has none (as
    ``git push -u``), so plain ``git pull`` and ``git status`` know it."""
    pushed = _send(repo, remote, progress)
    branch = repo.branch_ref().decode().removeprefix(HEADS)
    if remote.name is not None and repo.config(("branch", branch), "remote") is None:
        repo.set_config(("branch", branch), "remote", remote.name)
        repo.set_config(("branch", branch), "merge", remote.ref.decode())
    return pushed


def _send(repo: GitRepo, remote: Remote, progress: Progress | None) -> bool:
    head = repo.head()
    if head is None:
        raise ValidationError("nothing to push: the store has no commits")
    client, path = _transport(repo, remote.url)
    if isinstance(client, LocalGitClient):
        _refuse_checked_out(path, remote)
    verdict: list[str] = []

    def update_refs(refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
        old = refs.get(Ref(remote.ref))
        if old == head:
            verdict.append("up to date")
        elif old is not None and not is_ancestor(repo, old, head):
            verdict.append("moved")
        else:
            return {Ref(remote.ref): head}
        return {}

    def pack(
        have: Set[ObjectID],
        want: Set[ObjectID],
        *,
        ofs_delta: bool = False,
        progress: Progress | None = None,
    ) -> tuple[int, Iterator[UnpackedObject]]:
        return repo.git.generate_pack_data(
            set(have),
            set(want),
            # dulwich's clients pass bytes, which its object store takes too;
            # Repo.generate_pack_data's annotation says str.
            progress=progress,  # type: ignore[arg-type]
            ofs_delta=ofs_delta,
        )

    with _talking_to(remote.url), _transferring(repo):
        try:
            result = client.send_pack(path.encode(), update_refs, pack, progress=progress)
        except FileLocked as e:  # a local remote: another push is moving the branch
            raise PushRejected(
                f"push to {remote.label} rejected: another push holds "
                f"{os.fsdecode(e.lockfilename)}; try again (delete it if no push is running)"
            ) from None
        if verdict == ["up to date"]:
            return False
        if verdict == ["moved"]:
            raise PushRejected(
                f"push to {remote.label} rejected: it has commits this store has not "
                "merged; pull first (gitmem sync does both)"
            )
        error = (result.ref_status or {}).get(remote.ref)
        if error:
            raise PushRejected(f"push to {remote.label} rejected by the remote: {error}")
        # Some servers (dulwich's own) report success when their compare-and-swap
        # failed: believe the remote's ref, not the report.
        now = client.get_refs(path.encode()).refs.get(Ref(remote.ref))
        if now != head and (now is None or not is_ancestor(repo, head, now)):
            raise PushRejected(f"push to {remote.label} did not land: the branch moved meanwhile")
        if isinstance(client, LocalGitClient):
            _name_head(path, remote)
        if remote.tracking is not None:
            _set_tracking(repo, remote.tracking, head, f"update by push: {remote.label}")
    return True


def _name_head(path: str, remote: Remote) -> None:
    """Point a bare remote's HEAD at the branch we pushed if it names a branch
    that does not exist: ``git init --bare`` names ``master``, and a clone of
    a remote whose HEAD names nothing checks out nothing. (Over ssh or HTTP
    git has no way to set it; a local path is all we can mend.)"""
    with Repo(path) as target:
        if target.bare and target.refs.follow(Ref(b"HEAD"))[1] is None:
            target.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(remote.ref))


def _refuse_checked_out(path: str, remote: Remote) -> None:
    """Refuse to move the checked-out branch of another working tree, as git
    does (receive.denyCurrentBranch): its index and files would not follow."""
    with _talking_to(remote.url), Repo(path) as target:
        if target.bare:
            return
        names, _ = target.refs.follow(Ref(b"HEAD"))
        if names[-1] == remote.ref:
            raise ValidationError(
                f"{remote.url}: cannot push to {remote.ref.decode()}, it is checked out "
                "there; push to a bare repository (git init --bare), or pull from there"
            )


def start_clone(repo: GitRepo, url: str, progress: Progress | None = None) -> ObjectID:
    """Make ``url`` the store's origin, name our branch after its default
    branch and fetch that; return its commit. Our branch is left unborn."""
    if _is_local(url):
        url = os.path.abspath(url)  # as git clone records it: later runs start elsewhere
    client, path = _transport(repo, url)
    with _talking_to(url):
        listed = client.get_refs(path.encode())
    branch = _default_branch(listed.refs, listed.symrefs)
    if branch is None:
        raise NotFoundError(f"{url}: has no branch to clone; push a store to it first")
    add_remote(repo, "origin", url)
    repo.git.refs.set_symbolic_ref(Ref(b"HEAD"), branch)
    name = branch.decode().removeprefix(HEADS)
    repo.set_config(("branch", name), "remote", "origin")
    repo.set_config(("branch", name), "merge", branch.decode())
    commit = fetch(repo, find_remote(repo, "origin"), progress)
    if commit is None:
        raise NotFoundError(f"{url}: {name} was deleted while cloning")
    return commit


def _default_branch(refs: Mapping[Ref, ObjectID | None], symrefs: Mapping[Ref, Ref]) -> Ref | None:
    """The branch a clone checks out: the one the remote's HEAD names; if that
    does not exist (a bare repository made with another default), main, else
    the first branch."""
    branches = sorted(r for r, sha in refs.items() if r.startswith(HEADS.encode()) and sha)
    for wanted in (symrefs.get(Ref(b"HEAD")), Ref(b"refs/heads/main")):
        if wanted in branches:
            return wanted
    return branches[0] if branches else None


# -- history --------------------------------------------------------------


def merge_base(repo: GitRepo, ours: ObjectID, theirs: ObjectID) -> ObjectID | None:
    """The best common ancestor of two commits (None: unrelated histories)."""
    found = find_merge_base(repo.git, [ours, theirs])
    return found[0] if found else None


def count_commits(repo: GitRepo, new: ObjectID, old: ObjectID | None) -> int:
    """How many commits ``new`` has that ``old`` has not."""
    walker = repo.git.get_walker(include=[new], exclude=[old] if old else None)
    return sum(1 for _ in walker)


def changes(repo: GitRepo, old: ObjectID | None, new: ObjectID) -> dict[str, FileEntry | None]:
    """Every file that differs from commit ``old`` to ``new``: path -> (mode,
    blob id) at ``new``, None where it is gone."""
    before = repo.snapshot(old) if old is not None else Snapshot(repo, None, EMPTY)
    found: dict[str, FileEntry | None] = {}
    for path, _, entry in diff(before, repo.snapshot(new)):
        # A path that is not UTF-8 cannot be a block id: it keeps a visible mark
        # and is refused.
        shown = path.encode(errors="surrogateescape").decode(errors="replace")
        if entry is None:
            found.setdefault(shown, None)
        else:
            found[shown] = entry
    return found
