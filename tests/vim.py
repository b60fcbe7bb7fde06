"""A real vim holding a file open, for tests: it loads the file (and so makes its
swap file beside it), waits until told to go on, then runs ex commands and exits."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest

VIM = shutil.which("vim")
needs_vim = pytest.mark.skipif(VIM is None, reason="vim is not installed (.ci/run installs it)")
WAIT = 30.0  # seconds; only a broken vim takes this long


class Vim:
    """``vim -es`` on ``file``, running ``commands`` once ``go()`` is called."""

    def __init__(self, file: Path, signals: Path, *commands: str) -> None:
        assert VIM is not None
        self.swap = file.with_name(f".{file.name}.swp")
        self._go = signals / f"vim-go-{file.name}"
        args = [VIM, "-N", "-u", "NONE", "-i", "NONE", "-es"]
        args += ["-c", f'while !filereadable("{self._go}") | sleep 10m | endwhile']
        for command in commands:
            args += ["-c", command]
        self.proc = subprocess.Popen(
            [*args, str(file)], cwd=file.parent, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        deadline = time.monotonic() + WAIT
        while not self.swap.exists():
            assert time.monotonic() < deadline, "vim made no swap file"
            assert self.proc.poll() is None, "vim exited"
            time.sleep(0.01)

    def go(self) -> int:
        """Let vim run its commands; its exit status."""
        self._go.touch()
        return self.proc.wait(timeout=WAIT)

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
