"""A real vim holding a file open, for tests: it loads the file (and so makes its
swap file beside it), then runs ex commands, waiting at each ``Vim.WAIT`` (and
before the first) until the test says go."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest

VIM = shutil.which("vim")
needs_vim = pytest.mark.skipif(VIM is None, reason="vim is not installed (.ci/run installs it)")
WAIT_S = 30.0  # seconds; only a broken vim takes this long


class Vim:
    """``vim -es`` on ``file`` running ``commands``; ``signals`` is a directory for
    the files that say go. ``swap=False``: vim runs without a swap file (``-n``).
    ``answers``: what the person types when vim asks (one line each)."""

    WAIT = object()

    def __init__(
        self,
        file: Path,
        signals: Path,
        *commands: str | object,
        swap: bool = True,
        answers: str = "",
    ) -> None:
        assert VIM is not None
        self.swap = file.with_name(f".{file.name}.swp")
        self._signals, self._step = signals, 0
        loaded = signals / "vim-loaded"
        args = [VIM, "-N", "-u", "NONE", "-i", "NONE", "-es", *([] if swap else ["-n"])]
        args += ["-c", f'call writefile([], "{loaded}")']
        waits = 0
        for command in (Vim.WAIT, *commands):
            if command is Vim.WAIT:
                go = signals / f"vim-go-{waits}"
                command = f'while !filereadable("{go}") | sleep 10m | endwhile'
                waits += 1
            args += ["-c", str(command)]
        self.proc = subprocess.Popen(
            [*args, str(file)], cwd=file.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(answers.encode())
        self.proc.stdin.close()
        deadline = time.monotonic() + WAIT_S
        while not loaded.exists():
            assert time.monotonic() < deadline, "vim did not load the file"
            assert self.proc.poll() is None, "vim exited"
            time.sleep(0.01)

    def go(self) -> None:
        """Let vim run its commands up to the next ``Vim.WAIT``."""
        (self._signals / f"vim-go-{self._step}").touch()
        self._step += 1

    def wait(self) -> int:
        """Let vim run to the end; its exit status."""
        self.go()
        return self.proc.wait(timeout=WAIT_S)

    def __enter__(self) -> Vim:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
