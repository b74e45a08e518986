"""A project-local Redis (Debian's redis-server) for the job queue, like graph.server.local for Neo4j.

Data lives in `.trellis/redis` (or `$TRELLIS_REDIS_HOME`), it listens on 127.0.0.1 only, and `start` is
idempotent: a second call finds the running server through its pid file. Production points
`TRELLIS_REDIS_URL` at its own Redis and starts nothing here.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from graph.server.local import file_lock, free_port
from graph.server.paths import state_dir

DEFAULT_PORT = 6379
_STATE = "redis.json"


class RedisError(RuntimeError):
    """redis-server is missing or did not come up."""


@dataclass(frozen=True)
class RedisInfo:
    pid: int
    port: int
    home: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def default_home() -> Path:
    value = os.environ.get("TRELLIS_REDIS_HOME")
    return Path(value).expanduser().resolve() if value else state_dir() / "redis"


def _binary() -> str:
    found = os.environ.get("TRELLIS_REDIS_SERVER") or shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)
    if not found:
        raise RedisError("redis-server not found: install Debian's redis-server (scripts/bootstrap does) "
                         "or set TRELLIS_REDIS_URL to a running Redis")
    return found


def _answers(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis on `port` replies +PONG (a bare socket check would accept any listener)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _alive(pid: int) -> bool:
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


def running(home: Path | None = None) -> RedisInfo | None:
    """The server of `home` if it is alive and answering."""
    home = home or default_home()
    try:
        state = json.loads((home / _STATE).read_text())
        info = RedisInfo(int(state["pid"]), int(state["port"]), home)
    except (OSError, ValueError, KeyError):
        return None
    return info if _alive(info.pid) and _answers(info.port) else None


def start(home: Path | str | None = None, *, port: int | None = None, timeout: float = 15) -> RedisInfo:
    """Start (or find) the local redis-server of `home`; `port` 0 picks a free one, None the default/env."""
    home = Path(home).resolve() if home is not None else default_home()
    home.mkdir(parents=True, exist_ok=True)
    with file_lock(home / "start.lock"):
        found = running(home)
        if found is not None:
            return found
        if port is None:
            port = int(os.environ.get("TRELLIS_REDIS_PORT") or DEFAULT_PORT)
        if port == 0:
            port = free_port()
        if _answers(port):
            raise RedisError(f"port {port} already has a Redis that is not this project's ({home}); "
                             f"set TRELLIS_REDIS_URL to use it or TRELLIS_REDIS_PORT to pick another port")
        log = home / "redis.log"
        proc = subprocess.Popen(
            [_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(home),
             "--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", str(log),
             "--protected-mode", "yes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,   # Ctrl-C in a terminal reaches us, and we stop it in order
        )
        deadline = time.monotonic() + timeout
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
                raise RedisError(f"redis-server did not start on port {port}:\n{tail}")
            time.sleep(0.05)
        info = RedisInfo(proc.pid, port, home)
        (home / _STATE).write_text(json.dumps({"pid": proc.pid, "port": port}))
        return info


def stop(home: Path | str | None = None, timeout: float = 10) -> bool:
    """Stop the server of `home` (SIGTERM: it writes its append-only file and exits). False if none ran."""
    home = Path(home).resolve() if home is not None else default_home()
    info = running(home)
    with contextlib.suppress(FileNotFoundError):
        (home / _STATE).unlink()
    if info is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(info.pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.pid, os.WNOHANG)
        time.sleep(0.05)
    if _alive(info.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(info.pid, os.WNOHANG)
    return True
