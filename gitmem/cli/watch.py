"""``gitmem watch``: tell agents when their blocks change, and commit files saved on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from gitmem.cli.base import client_of, main

if TYPE_CHECKING:
    from gitmem import Event


def _say(message: str) -> None:
    click.echo(message, err=True)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the watcher as Ctrl-C does


@main.command()
@click.option(
    "--agent",
    "agents",
    multiple=True,
    metavar="AGENT",
    help="Only this agent's events (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per event and line.")
@click.option(
    "--exec",
    "command",
    metavar="CMD",
    help="Run CMD with sh once per event: the event in GITMEM_* variables and as JSON on stdin.",
)
@click.option(
    "--cursor",
    metavar="NAME",
    help="Keep the last delivered commit as NAME; started again, deliver what was missed first.",
)
@click.option("--no-commit", is_flag=True, help="Report files saved on disk; do not commit them.")
@click.pass_context
def watch(
    ctx: click.Context,
    agents: tuple[str, ...],
    as_json: bool,
    command: str | None,
    cursor: str | None,
    no_commit: bool,
) -> None:
    """Tell agents when their blocks change.

    One line per (agent, block, commit) as commits land on the branch, whoever
    made them (gitmem, plain git or a pull). Blocks and manifests saved on disk
    are committed as you (invalid ones are reported on stderr and left alone).
    Stop with Ctrl-C or SIGTERM.

    \b
    Example:
      gitmem watch --agent worker --json --cursor worker
      gitmem watch --exec 'notify-send "$GITMEM_AGENT: $GITMEM_BLOCK $GITMEM_KIND"'
    """
    client = client_of(ctx)
    watcher = client.watch(list(agents) or None, cursor, commit=not no_commit, report=_say)
    failed: list[BaseException] = []

    def deliver() -> None:
        try:
            for event in watcher:  # coming back for the next one moves the cursor
                line = json.dumps(event.as_dict(), ensure_ascii=False)
                click.echo(line if as_json else event.line())  # click.echo flushes
                if command:
                    _run(command, event, line, client.path)
        except BaseException as e:
            failed.append(e)

    # Events are delivered in a thread of their own, so that the signal that
    # stops the watcher lands in this one, which holds none of its locks.
    delivery = threading.Thread(target=deliver, name="gitmem-watch-deliver")
    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT)}
    previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _stop)
    try:
        start = watcher.last.decode()[:10] if watcher.last else "(no commit yet)"
        _say(f"watching {client.path} from {start}")
        delivery.start()
        delivery.join()
    except KeyboardInterrupt:
        pass
    finally:
        for sig in previous:  # a second Ctrl-C must not cut this short
            signal.signal(sig, signal.SIG_IGN)
        watcher.close()  # an event being delivered is finished first
        if delivery.is_alive():
            delivery.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise failed[0]


def _run(command: str, event: Event, line: str, root: Path) -> None:
    """Run ``command`` for ``event``; a failure is reported and the watcher goes on."""
    env = dict(os.environ, GITMEM_STORE=str(root))
    env.update((f"GITMEM_{k.upper()}", str(v)) for k, v in event.as_dict().items() if k != "diff")
    done = subprocess.run(["sh", "-c", command], input=line + "\n", text=True, env=env, check=False)
    if done.returncode != 0:
        how = f"exited with {done.returncode}"
        if done.returncode < 0:
            how = f"was killed by signal {-done.returncode}"
        _say(f"--exec command {how} for: {event.line()}")
