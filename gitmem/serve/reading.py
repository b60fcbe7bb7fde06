"""Reading a request: its path as sent, and a body that is bounded, timed and JSON."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import unquote

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gitmem.errors import ValidationError
from gitmem.model.block import MAX_LIMIT
from gitmem.serve import schema

# The largest block (MAX_LIMIT characters) as JSON at its longest (each
# character escaped as a six-character \u escape), and 1 MiB for the rest of the request.
MAX_BODY = 6 * MAX_LIMIT + 2**20
BODY_TIMEOUT = 30.0  # seconds for a request body to arrive; others are served meanwhile


class TooLarge(ValidationError):
    """A request body larger than any block could need (HTTP 413)."""


class TooSlow(ValidationError):
    """A request body that did not arrive in time (HTTP 408)."""


class RawPath:
    """Route on the path as sent: Letta's client percent-encodes ids, and a
    block id may hold '/' (``worker/persona`` arrives as ``worker%2Fpersona``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw:
            scope = {**scope, "path": raw.decode("latin-1")}
        await self.app(scope, receive, send)


def params(request: Request, *names: str) -> list[str]:
    """Path parameters, percent-decoded (routes match the path as sent: RawPath)."""
    try:
        return [unquote(str(request.path_params[name]), errors="strict") for name in names]
    except UnicodeDecodeError:
        raise ValidationError(f"the path is not UTF-8 text: {request.url.path}") from None


async def body(request: Request) -> object:
    """The JSON body (check it with gitmem.serve.schema); nothing is read past MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(f"the request body is {declared} bytes; at most {MAX_BODY} are read")

    async def read() -> bytes:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY:
                raise TooLarge(f"the request body is over {MAX_BODY} bytes")
        return bytes(data)

    try:
        data = await asyncio.wait_for(read(), BODY_TIMEOUT)
    except asyncio.TimeoutError:
        raise TooSlow(f"the request body did not arrive within {BODY_TIMEOUT:.0f} s") from None
    if not data:
        raise schema.Invalid([{"type": "missing", "loc": ["body"], "msg": "Field required"}])
    try:
        parsed: object = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ValidationError("the request body is not UTF-8 text") from None
    except (ValueError, RecursionError) as e:
        raise ValidationError(f"the request body is not valid JSON: {e}") from None
    return parsed


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
