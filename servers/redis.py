"""A project-local Redis (Debian's redis-server) for the job queue, like servers.neo4j for Neo4j.

Data lives in `.trellis/redis` (or `$TRELLIS_REDIS_HOME`), it listens on 127.0.0.1 only, and `start` is
idempotent: a second call finds the running server through its pid file. Production points
`TRELLIS_REDIS_URL` at its own Redis and starts nothing here.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from servers.base import LocalServer, ServerError, file_lock, free_port, pid_alive, state_dir

DEFAULT_PORT = 6379
_STATE = "redis.json"


class RedisError(ServerError):
    """redis-server is missing or did not come up."""


class RedisServer(LocalServer):
    """The supervision of one Redis home (servers.base), its log `redis.log` inside it."""

    name = "redis-server"
    error = RedisError
    log_name = "redis.log"


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


_alive = pid_alive


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
        server = RedisServer(home)
        # redis-server writes its own log (--logfile); its stdout stays quiet (Ctrl-C reaches us, we stop it)
        proc = server.spawn(
            [_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(home),
             "--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", str(server.log_path),
             "--protected-mode", "yes"])
        try:
            server.wait_until(lambda: _answers(port), time.monotonic() + timeout, proc=proc,
                              what=f"start on port {port}", interval=0.05)
        except RedisError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
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
    RedisServer.terminate(info.pid, timeout)
    return True
