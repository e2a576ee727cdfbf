"""Child processes with a log file, stopped for sure.

Every gateway or service a test starts goes through start_proc so that (a) its stdout and stderr
land in a file the failure message can quote, and (b) it is stopped by pid even when the test
fails half-way.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from pathlib import Path
from types import TracebackType
from typing import IO

# Only the end of a log matters for a failure message; reading more would be wasted on big logs.
_TAIL_BYTES = 64 * 1024


class Proc:
    """A started child process whose combined output goes to ``log_path``."""

    def __init__(
        self, cmd: list[str], popen: subprocess.Popen[bytes], log_path: Path, log_file: IO[bytes]
    ) -> None:
        self.cmd = cmd
        self.log_path = log_path
        self._popen = popen
        self._log_file = log_file

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None while the process runs, else its exit status (negative: killed by a signal)."""
        return self._popen.poll()

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines of the process log (empty if nothing was written)."""
        self._log_file.flush()
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - _TAIL_BYTES))
                data = fh.read()
        except FileNotFoundError:
            return ""
        return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-n:])

    def describe(self, headline: str, n: int = 40) -> str:
        """A multi-line failure message: what happened, the command, and the log tail."""
        status = self.returncode
        state = "still running" if status is None else f"exit status {status}"
        return (
            f"{headline}\ncommand: {shlex.join(self.cmd)}\npid {self.pid}, {state}\n"
            f"--- last {n} lines of {self.log_path} ---\n{self.log_tail(n)}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate, then kill if needed, and reap. Safe to call more than once."""
        if self._popen.poll() is None:
            # SIGTERM is the graceful stop for all four gateways (nginx: fast shutdown, and the
            # master stops its own workers).
            self._popen.terminate()
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                # The child leads its own session (start_new_session), so its process group
                # holds exactly what it spawned (e.g. nginx workers). The leader is not reaped
                # yet, so the group id cannot have been reused by an unrelated process.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGKILL)
                self._popen.wait(timeout)
        if not self._log_file.closed:
            self._log_file.close()

    def __enter__(self) -> Proc:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_proc(
    cmd: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start ``cmd`` with stdout+stderr appended to ``log_path``.

    ``env`` is merged over the current environment (not a replacement, unlike Popen), because
    callers almost always want to add a few variables and keep PATH, HOME and friends.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    log_file.write(f"$ {shlex.join(cmd)}\n".encode())
    log_file.flush()
    try:
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env} if env is not None else None,
            cwd=cwd,
            # A new session keeps Ctrl-C on the test run from reaching the child directly (stop()
            # handles it) and gives stop() a process group to kill if the child hangs.
            start_new_session=True,
        )
    except BaseException:
        log_file.close()
        raise
    return Proc(cmd, popen, log_path, log_file)
