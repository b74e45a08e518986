"""The two steps of running the local Neo4j that need the driver; everything else is servers.neo4j.

Why here: servers/ is the lowest layer and never imports ``neo4j`` (LAYERING.md), but a fresh server must have
Neo4j's expired initial password changed to the home's generated one before anyone can use it, and `trellis
neo4j status` asks a running server its version. Both speak Bolt with the driver, so both live in graph/:
:func:`start` is ``servers.neo4j.start`` with the password step, :func:`status` adds what the server says.
"""
from __future__ import annotations

import time
from pathlib import Path

from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ServiceUnavailable

from servers import neo4j as local
from servers.neo4j import INITIAL_PASSWORD, USER, ServerError, ServerInfo

__all__ = ["kernel", "set_password", "start", "status"]


def kernel(uri: str, auth: tuple[str, str] | None, *, database: str | None = "system",
           timeout: float = 3.0) -> dict | None:
    """The version and edition the server at `uri` reports (`CALL dbms.components()`), None when it names no
    kernel; the driver's exception when it does not answer.

    A plain session, not execute_query: no 30 s retry loop, so a booting or down server is reported at once."""
    with GraphDatabase.driver(uri, auth=auth, connection_timeout=timeout) as drv, \
            drv.session(database=database) as session:
        records = list(session.run(
            "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition"))
    for rec in records:
        if rec["name"] == "Neo4j Kernel":
            return {"version": rec["versions"][0], "edition": rec["edition"]}
    return None


def set_password(info: ServerInfo, deadline: float) -> None:
    """Log in with the home's password; on a fresh (or formerly auth-less) store, change Neo4j's initial
    password to it first. Raises ServerError when neither works (someone changed it: see the README)."""
    password = local.generated_password(info.home)
    while True:
        try:
            with GraphDatabase.driver(info.uri, auth=(USER, password), connection_timeout=5.0) as drv:
                drv.verify_connectivity()
            return
        except AuthError:
            pass
        except (ServiceUnavailable, OSError) as exc:
            if time.monotonic() > deadline:
                raise ServerError(f"Neo4j at {info.uri} stopped answering while setting its password: {exc}")
            time.sleep(0.5)
            continue
        try:
            with GraphDatabase.driver(info.uri, auth=(USER, INITIAL_PASSWORD), connection_timeout=5.0) as drv, \
                    drv.session(database="system") as session:
                session.run("ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                            old=INITIAL_PASSWORD, new=password).consume()
            return
        except AuthError:
            raise ServerError(f"Neo4j in {info.home} refused both its generated password "
                              f"({local.password_file(info.home)}) and the initial one; restore that file or "
                              f"remove {info.home / 'data'} to start afresh") from None


def start(home: Path | str | None = None, *, bolt_port: int = 7687, http_port: int = 7474, heap: str | None = None,
          pagecache: str | None = None, timeout: float = 180) -> ServerInfo:
    """Start (or reuse) the local Neo4j of ``home`` (servers.neo4j.start) and make it usable with the home's
    generated password; the arguments and errors are servers.neo4j.start's."""
    return local.start(home, set_password=set_password, bolt_port=bolt_port, http_port=http_port, heap=heap,
                       pagecache=pagecache, timeout=timeout)


def status(home: Path | str | None = None) -> dict:
    """Describe the server of ``home``: running, ready, pid, uri, ports, version, edition, home.

    ``running`` means the JVM recorded in ``home`` is alive; ``ready`` that it also
    answered ``CALL dbms.components()`` over Bolt (``version``/``edition`` come from it).
    """
    result = local.status(home)
    if not result["running"]:
        return result
    try:
        found = kernel(result["uri"], local.credentials(result["home"]))
        if found is not None:
            result.update(ready=True, **found)
    except Exception as exc:  # alive but not (yet) answering, e.g. still starting
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result
