"""What every local server Trellis supervises has in common: one base class instead of four copies.

Why: Neo4j, Redis, OpenSearch and Keycloak (the sign-in tests' identity provider) each run as a child
process in a home folder of their own, are started in their own session (Ctrl-C in a terminal reaches the
supervisor, which stops them in order), are waited for until they answer, and are stopped with SIGTERM and,
after a grace period, SIGKILL. When one does not come up, the error carries the tail of its log. This module
holds that once; each server module (servers.neo4j, servers.redis, servers.opensearch, servers.keycloak)
adds only what is its own: how to provision it, its command line, and how to ask whether it answers.

Only the standard library: servers/ is the lowest layer and imports nothing of ours (LAYERING.md).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, ClassVar, Iterator

from servers.paths import state_dir

__all__ = ["FILES", "LocalServer", "ServerError", "file_lock", "free_port", "pid_alive", "port_busy",
           "state_dir", "tail"]

#: The pinned poms (and OpenSearch's launcher source) the servers are provisioned from; shipped in the wheel.
FILES: Path = Path(__file__).resolve().parent / "files"


class ServerError(RuntimeError):
    """Provisioning, starting or stopping a local server failed (the message says why, with its log tail)."""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Inter-process lock (flock on `path`) so parallel sessions, CLIs and ingests don't race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for throwaway test servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_busy(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 40, *, empty: str = "(no output)") -> str:
    """The last `lines` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return empty
    return "\n".join(text.splitlines()[-lines:]) or empty


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not: it still "exists" for kill(0))."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class LocalServer:
    """One supervised server process: its home folder, its log, how it starts, waits and stops.

    Subclasses set `name` (for messages), `error` (their ServerError subclass) and `log_name`, and pass their
    readiness check to :meth:`wait_until`.
    """

    name: ClassVar[str] = "server"
    error: ClassVar[type[ServerError]] = ServerError
    log_name: ClassVar[str] = "server.log"

    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def log_path(self) -> Path:
        return self.home / self.log_name

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def spawn(self, cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
              log_mode: str = "ab") -> subprocess.Popen:
        """Start `cmd` with stdout and stderr appended to the log, in its own session (process group)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, log_mode) as log:
            return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until(self, ready: Callable[[], bool], deadline: float, *, proc: subprocess.Popen | None = None,
                   pid: int | None = None, what: str = "answer", interval: float = 0.5) -> None:
        """Poll `ready()` until it is true; raise `error` with the log tail if the process dies (`proc`
        exited, or `pid` no longer alive) or `deadline` (time.monotonic) passes."""
        while True:
            if proc is not None and proc.poll() is not None:
                raise self.error(f"{self.name} exited with code {proc.returncode} during start; "
                                 f"{self.log_path} says:\n{self.log_tail()}")
            if proc is None and pid is not None and not pid_alive(pid):
                raise self.error(f"{self.name} (pid {pid}) died during start; {self.log_path} says:\n"
                                 f"{self.log_tail()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self.error(f"{self.name} did not {what} in time; {self.log_path} says:\n{self.log_tail()}")
            time.sleep(interval)

    @staticmethod
    def terminate(pid: int, timeout: float, *, group: bool = False, alive: Callable[[int], bool] = pid_alive,
                  proc: subprocess.Popen | None = None) -> None:
        """SIGTERM (to the process group when `group`), then SIGKILL after `timeout` s; reaps `proc`."""
        def send(sig: int) -> None:
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(pid, sig)
                else:
                    os.kill(pid, sig)

        def reap() -> None:
            if proc is not None:
                proc.poll()
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

        send(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            reap()
            time.sleep(0.05 if timeout <= 10 else 0.2)
        if alive(pid):
            send(signal.SIGKILL)
            end = time.monotonic() + 10
            while alive(pid) and time.monotonic() < end:
                reap()
                time.sleep(0.1)
        if proc is not None:
            with contextlib.suppress(Exception):
                proc.wait(timeout=1)
        else:
            reap()
