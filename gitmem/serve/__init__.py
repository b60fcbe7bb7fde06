"""``gitmem serve``: one store for agents on many machines, over Letta's REST API.

Built: Letta's routes for blocks, agents, their core memory and the memory
tools (``app``), per-agent and admin tokens (``gitmem.ops.tokens``). Not built
yet: MCP over HTTP at ``/mcp``, live events at ``/v1/events``,
``Client.connect``, group commit; those routes answer 501 and say so.
"""
