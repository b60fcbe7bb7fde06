"""The ``gitmem`` command. Each command lives in a module loaded on first use, so
that a one-shot command imports only what it runs; this table is the index.

A summary here is the first sentence of the command's docstring, kept here so
that ``gitmem --help`` lists the commands without importing every module;
tests/test_docs.py checks that each is still its command's."""

from gitmem.cli.base import main

main.lazy.update(
    {
        "agents": ("Create and delete agents; attach blocks to them.", ("agents",)),
        "blocks": ("Create, read, change and delete blocks; their history.", ("blocks", "history")),
        "check": ("Find everything wrong with the store, changing nothing.", ("check",)),
        "clone": ("Copy a store from a git remote and set it up.", ("sync",)),
        "commit": ("Commit blocks and manifests changed on disk, as you.", ("files",)),
        "demo": ("Play the supervisor/worker story on the sample memory.", ("setup",)),
        "edit": ("Edit a block in $EDITOR; saving commits it.", ("files",)),
        "hook": ("Run a git hook's check (what installed hooks call).", ("hooks",)),
        "hooks": ("Make plain git check and merge blocks the way gitmem does.", ("hooks",)),
        "init": ("Make a new store in DIRECTORY (default: the current one).", ("setup",)),
        "log": ("Show the store's history, filtered by agent, block, op.", ("history",)),
        "mcp": ("Serve an agent's memory over MCP on stdin/stdout.", ("mcp",)),
        "memory": ("Run an agent's memory tools: insert, replace, rethink.", ("memory",)),
        "merge-driver": ("Merge a block or manifest for git.", ("hooks",)),
        "pull": ("Fetch a remote and merge it in, block by block.", ("sync",)),
        "push": ("Push the branch to a remote.", ("sync",)),
        "remote": ("Add and list the git remotes a store syncs with.", ("sync",)),
        "serve": ("Serve the store over HTTP with Letta's REST API.", ("serve",)),
        "status": ("List blocks and manifests changed on disk.", ("files",)),
        "sync": ("Pull, then push; again if the remote moved meanwhile.", ("sync",)),
        "tokens": ("Make, list and revoke tokens for 'gitmem serve'.", ("serve",)),
        "watch": ("Tell agents when their blocks change.", ("watch",)),
    }
)

__all__ = ["main"]
