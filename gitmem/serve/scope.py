"""Who is calling, and what their token lets them do.

An admin token (or, on a loopback server with no tokens at all, any caller)
does everything the local API does. An agent's token acts as that agent: it
reads its own state and the blocks attached to it, and changes them only
through its memory tools, which refuse read-only blocks.
"""

from __future__ import annotations

from gitmem.client import Client
from gitmem.errors import GitmemError
from gitmem.ops.tokens import Token, Tokens

LOCAL = Token("local", None, "")  # who calls a loopback server that has no tokens


class Unauthorized(GitmemError):
    """A request without a valid token (HTTP 401)."""


class Forbidden(GitmemError):
    """A token asked for something outside its scope (HTTP 403)."""


def caller(tokens: Tokens, authorization: str, *, anonymous: bool) -> Token:
    """The token an ``Authorization`` header carries; LOCAL if ``anonymous`` and
    the store has no tokens (the server then listens on loopback only)."""
    configured = tokens.configured()
    if not configured and anonymous:
        return LOCAL
    if not configured:
        raise Unauthorized(
            "Unauthorized: the server has no tokens; make one with 'gitmem tokens create'"
        )
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized(
            "Unauthorized: send 'Authorization: Bearer <token>' "
            "(Letta(base_url=..., api_key=TOKEN); 'gitmem tokens create' makes one)"
        )
    token = tokens.verify(secret.strip())
    if token is None:
        raise Unauthorized("Unauthorized: unknown or revoked token")
    return token


def admin_only(who: Token, doing: str) -> None:
    if who.agent is not None:
        raise Forbidden(
            f"token {who.id} acts as agent {who.agent!r} and cannot {doing}; "
            "that needs an admin token"
        )


def acting_as(who: Token, agent_id: str) -> None:
    if who.agent is not None and who.agent != agent_id:
        raise Forbidden(f"token {who.id} acts as agent {who.agent!r}, not as {agent_id!r}")


def readable(c: Client, who: Token, block_id: str) -> None:
    """Forbidden unless ``who`` may read the block (checked before whether it exists)."""
    if who.agent is not None and block_id not in c.agents.retrieve(who.agent).block_ids:
        raise Forbidden(f"block {block_id!r} is not attached to agent {who.agent!r}")
