"""Access tokens for ``gitmem serve``: who may call the server, as which agent.

A token is a random secret shown once when made. The store keeps only its
SHA-256 (a token has 256 random bits, so a fast hash is enough: there is
nothing to guess from), in ``.git/gitmem/tokens.json``: under ``.git`` so it
is never committed, pushed or cloned. An agent token acts as that one agent;
an admin token does everything the local API does.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from gitmem.errors import NotFoundError, ValidationError
from gitmem.git import safefs
from gitmem.model.ids import check_agent_id


class Record(TypedDict):
    """A token in the file: what the store knows, and the secret's hash."""

    id: str
    agent: str | None
    created: str
    sha256: str


Records = list[Record]  # (``list`` is a method's name below)
PREFIX = "gm-"  # makes a leaked token easy to recognise (and to search for)
FORMAT = 1


@dataclass(frozen=True)
class Token:
    """A token as the store knows it: its public id and what it may do (never the secret)."""

    id: str
    agent: str | None  # None: an admin token
    created: str

    @property
    def admin(self) -> bool:
        return self.agent is None

    @property
    def scope(self) -> str:
        return "admin" if self.agent is None else f"agent {self.agent}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class Tokens:
    """The tokens of the store whose git directory is ``gitdir``."""

    def __init__(self, gitdir: Path) -> None:
        self._dir = gitdir / "gitmem"
        self._file = self._dir / "tokens.json"
        # The file as last read (by its stat), so a server checks a request
        # against the newest tokens without parsing the file each time.
        self._seen: tuple[int, int, int] | None = None
        self._by_digest: dict[str, Token] = {}

    def create(self, *, agent: str | None) -> tuple[Token, str]:
        """A new token for ``agent`` (None: admin); returns it and its secret, shown only now."""
        if agent is not None:
            check_agent_id(agent)
        secret = PREFIX + secrets.token_urlsafe(32)
        hashed = digest(secret)
        with self._locked() as records:
            taken = {r["id"] for r in records}
            token_id = next(
                hashed[i : i + 8] for i in range(0, 57) if hashed[i : i + 8] not in taken
            )
            token = Token(token_id, agent, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            records.append(Record(id=token_id, agent=agent, created=token.created, sha256=hashed))
        return token, secret

    def list(self) -> list[Token]:
        return [_token(r) for r in self._read()]

    def revoke(self, token_id: str) -> Token:
        """Remove the token with this id; the server refuses it from its next request on."""
        with self._locked() as records:
            for i, record in enumerate(records):
                if record["id"] == token_id:
                    del records[i]
                    return _token(record)
        raise NotFoundError(f"no token {token_id!r} (gitmem tokens list shows them)")

    def verify(self, secret: str) -> Token | None:
        """The token whose secret this is, or None."""
        self._refresh()
        return self._by_digest.get(digest(secret))

    def configured(self) -> bool:
        """True if the store has any token (then the server asks every request for one)."""
        self._refresh()
        return bool(self._by_digest)

    def _refresh(self) -> None:
        try:
            st = self._file.stat()
            seen: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            seen = None
        if seen is None:
            self._by_digest = {}
        elif seen != self._seen:
            self._by_digest = {r["sha256"]: _token(r) for r in self._read()}
        self._seen = seen

    def _read(self) -> Records:
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except ValueError as e:
            raise ValidationError(f"{self._file}: not valid JSON ({e})") from None
        records = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(records, list) or not all(_valid(r) for r in records):
            raise ValidationError(f"{self._file}: not a gitmem tokens file")
        return cast(Records, records)  # each one checked by _valid

    @contextmanager
    def _locked(self) -> Iterator[Records]:
        """The records to change; written back atomically (private to this user)
        when the block ends without an error. Writers exclude each other."""
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / "tokens.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            records = self._read()
            yield records
            text = json.dumps({"format": FORMAT, "tokens": records}, indent=1) + "\n"
            tmp = self._dir / f".tokens.{os.getpid()}.tmp"
            safefs.replace_file(self._file, text.encode(), tmp=tmp, durable=True, private=True)
        finally:
            os.close(fd)


def _valid(record: object) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("id"), str)
        and isinstance(record.get("sha256"), str)
        and "agent" in record
        and isinstance(record["agent"], (str, type(None)))
        and isinstance(record.get("created"), str)
    )


def _token(record: Record) -> Token:
    return Token(record["id"], record["agent"], record["created"])
