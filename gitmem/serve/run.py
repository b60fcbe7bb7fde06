"""Running the server: uvicorn on a host and port, refusing to be open to a network."""

from __future__ import annotations

import ipaddress

from gitmem.client import Client
from gitmem.errors import ValidationError
from gitmem.serve.app import create_app

NO_TOKENS = (
    "refusing to listen on {host} with no tokens: anyone who can reach it could read and "
    "change the memory. Make tokens first (gitmem tokens create --admin, or --agent AGENT), "
    "or listen on 127.0.0.1 only"
)


def is_loopback(host: str) -> bool:
    """True if only this machine can reach ``host`` (a name other than localhost is not trusted)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(client: Client, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve ``client``'s store at http://host:port until interrupted."""
    import uvicorn

    loopback = is_loopback(host)
    if not loopback and not client.tokens.configured():
        raise ValidationError(NO_TOKENS.format(host=host))
    app = create_app(client, anonymous=loopback)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        proxy_headers=False,  # the client address is the peer's, not a header's say-so
    )
    uvicorn.Server(config).run()
