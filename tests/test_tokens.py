"""Tokens for gitmem serve: random, shown once, kept hashed under .git/gitmem/, revocable."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
from click.testing import CliRunner

import gitmem
from gitmem.cli import main
from gitmem.errors import NotFoundError, ValidationError
from tests.conftest import assert_clean, git


def test_a_token_is_kept_only_as_its_hash_outside_the_tree(client: gitmem.Client) -> None:
    token, secret = client.tokens.create(agent="worker")
    assert secret.startswith("gm-") and len(secret) > 40
    assert (token.agent, token.admin, token.scope) == ("worker", False, "agent worker")
    path = client.path / ".git" / "gitmem" / "tokens.json"
    text = path.read_text()
    assert secret not in text
    assert hashlib.sha256(secret.encode()).hexdigest() in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(text)["format"] == 1
    assert_clean(client.path)  # nothing to commit: the file is under .git
    assert git(client.path, "log", "--format=%s") == "init: mem\n"


def test_verify_list_and_revoke(client: gitmem.Client) -> None:
    tokens = client.tokens
    assert not tokens.configured()
    worker, worker_secret = tokens.create(agent="worker")
    admin, admin_secret = tokens.create(agent=None)
    assert tokens.configured()
    assert tokens.verify(worker_secret) == worker
    assert tokens.verify(admin_secret) == admin and admin.admin and admin.scope == "admin"
    assert tokens.verify("gm-not-a-token") is None
    assert tokens.verify(worker_secret[:-1]) is None
    assert [t.id for t in tokens.list()] == [worker.id, admin.id]
    assert tokens.revoke(worker.id) == worker
    # Another Tokens object (a running server) sees the revocation at once.
    assert tokens.verify(worker_secret) is None
    assert client.tokens.verify(worker_secret) is None
    assert client.tokens.verify(admin_secret) == admin
    with pytest.raises(NotFoundError, match="no token 'nope'"):
        tokens.revoke("nope")
    tokens.revoke(admin.id)
    assert not tokens.configured() and tokens.list() == []


def test_an_agent_token_needs_a_valid_agent_id(client: gitmem.Client) -> None:
    with pytest.raises(ValidationError, match="invalid agent id 'Support Agent'"):
        client.tokens.create(agent="Support Agent")
    assert client.tokens.list() == []


def test_a_damaged_tokens_file_is_an_error_not_an_open_door(client: gitmem.Client) -> None:
    path = client.path / ".git" / "gitmem" / "tokens.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"tokens": [{"id": 1}]}')
    with pytest.raises(ValidationError, match="not a gitmem tokens file"):
        client.tokens.configured()
    path.write_text("{")
    with pytest.raises(ValidationError, match="not valid JSON"):
        client.tokens.verify("gm-x")


def test_cli_tokens(client: gitmem.Client) -> None:
    runner = CliRunner()
    store = str(client.path)
    made = runner.invoke(main, ["-C", store, "tokens", "create", "--agent", "worker"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    token = client.tokens.verify(secret)
    assert token is not None and token.agent == "worker"
    assert (
        made.stderr == f"token {token.id} (agent worker); it is not shown again: keep it secret\n"
    )
    listed = runner.invoke(main, ["-C", store, "tokens", "list"])
    assert listed.stdout == f"{token.id}\tagent worker\t{token.created}\n"
    assert secret not in listed.output
    as_json = runner.invoke(main, ["-C", store, "tokens", "list", "--json"])
    assert json.loads(as_json.stdout) == [
        {"id": token.id, "agent": "worker", "created": token.created}
    ]
    both = runner.invoke(main, ["-C", store, "tokens", "create", "--agent", "w", "--admin"])
    neither = runner.invoke(main, ["-C", store, "tokens", "create"])
    assert both.exit_code == neither.exit_code == 2
    assert "give --agent AGENT or --admin" in neither.output
    revoked = runner.invoke(main, ["-C", store, "tokens", "revoke", token.id])
    assert revoked.stdout == f"revoked token {token.id} (agent worker)\n"
    again = runner.invoke(main, ["-C", store, "tokens", "revoke", token.id])
    assert again.exit_code == 1
    assert f"no token '{token.id}'" in again.output
