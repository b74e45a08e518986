"""Driver lifecycle: one pooled driver per process, reads and writes as managed transactions.

Callers never see the driver's exceptions for an unreachable server: they get `GraphUnavailable`, which the
CLI turns into exit code 1 and the web app into a 503.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import neo4j
from neo4j import GraphDatabase, RoutingControl
from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired, TransientError

from graph.errors import GraphUnavailable
from graph.schema import apply_schema
from servers.neo4j import credentials_for

T = TypeVar("T")

LOCAL_URI = "bolt://127.0.0.1:7687"
# URI schemes with client-side routing (a cluster, Aura): reads may be served by a secondary.
ROUTED_SCHEMES = ("neo4j://", "neo4j+s://", "neo4j+ssc://")


# Failures worth retrying a whole run for (ingest.jobs): Neo4j unreachable or a transient transaction error.
# Named here so nothing above graph/ imports neo4j.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (GraphUnavailable, ServiceUnavailable, SessionExpired,
                                                     TransientError)


def _why(exc: Exception) -> str:
    """The driver's multi-line reason, cut to what a person needs on one line."""
    text = " ".join(str(exc).split())
    if "Connection refused" in text:
        return "connection refused"
    return text[:200]


def _local_credentials(uri: str) -> tuple[str, str] | None:
    """The generated password of a project-local server (servers.neo4j) at `uri`, when no user is given."""
    return credentials_for(uri)


@dataclass(frozen=True)
class Settings:
    uri: str = LOCAL_URI
    user: str | None = None
    password: str | None = None
    database: str = "neo4j"

    @classmethod
    def from_env(cls) -> "Settings":
        """`NEO4J_URI`/`NEO4J_USER`/`NEO4J_PASSWORD`/`NEO4J_DATABASE`, else the local server `trellis neo4j` runs."""
        return cls(
            uri=os.environ.get("NEO4J_URI") or LOCAL_URI,
            user=os.environ.get("NEO4J_USER") or None,
            password=os.environ.get("NEO4J_PASSWORD") or None,
            database=os.environ.get("NEO4J_DATABASE") or "neo4j",
        )


class Graph:
    """A connection to the catalog database. Reads (`read`) go through the driver's read routing, writes
    (`write`, `write_tx`) through its write routing: on a cluster or Aura (`neo4j://`/`neo4j+s://`) the
    secondaries serve the reads (tests/test_routing.py checks every statement against its routing)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        auth = (settings.user, settings.password or "") if settings.user else _local_credentials(settings.uri)
        self.driver = GraphDatabase.driver(
            settings.uri,
            auth=auth,
            connection_timeout=5.0,
            connection_acquisition_timeout=10.0,
            max_transaction_retry_time=15.0,
            notifications_min_severity="OFF",
        )
        self.database = settings.database
        # On a routed URI a read may reach a secondary that has not yet applied this process's last write:
        # read sessions then carry the bookmarks of execute_query's writes (the secondary waits for them).
        # A single server is always up to date, so a direct `bolt://` URI skips the bookmark round trip.
        self.bookmarks = (self.driver.execute_query_bookmark_manager
                          if settings.uri.lower().startswith(ROUTED_SCHEMES) else None)

    def close(self) -> None:
        self.driver.close()

    def pool_stats(self) -> dict:
        """This process's Bolt connections, `{in_use, idle, max}` (for /metrics). The driver has no public
        API for it: read from its pool, and `{}` when a driver version moves things."""
        pool = getattr(self.driver, "_pool", None)
        try:
            in_use = idle = 0
            for address, connections in list(pool.connections.items()):
                used = pool.in_use_connection_count(address)
                in_use += used
                idle += max(0, len(connections) - used)
            return {"in_use": in_use, "idle": idle, "max": pool.pool_config.max_connection_pool_size}
        except (AttributeError, TypeError):
            return {}

    def __enter__(self) -> "Graph":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def verify(self) -> None:
        """Fail fast with a clear reason when the server is not there."""
        try:
            self.driver.verify_connectivity()
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            raise GraphUnavailable(f"Neo4j is not reachable at {self.settings.uri}: {_why(exc)}") from exc
        except AuthError as exc:
            raise GraphUnavailable(f"Neo4j at {self.settings.uri} refused the credentials: {_why(exc)}") from exc

    def read(self, query: str, **params: Any) -> list[neo4j.Record]:
        """Run a parameterised read query and return all records."""
        return self._run(query, params, RoutingControl.READ)

    def write(self, query: str, **params: Any) -> neo4j.ResultSummary:
        """Run a parameterised write query in a managed transaction (retried on transient errors).

        The summary's `parameters` lists come back empty: see `_let_go`."""
        params = _sent(params)
        try:
            return self.driver.execute_query(
                query, params, database_=self.database, routing_=RoutingControl.WRITE,
                result_transformer_=neo4j.Result.consume,
            )
        except (ServiceUnavailable, SessionExpired) as exc:
            raise GraphUnavailable(f"Neo4j is not reachable at {self.settings.uri}: {_why(exc)}") from exc
        finally:
            _let_go(params)

    def write_tx(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(tx, *args)` as one managed write transaction; `work` may be retried, so keep it pure."""
        try:
            with self.driver.session(database=self.database, default_access_mode=neo4j.WRITE_ACCESS,
                                     bookmark_manager=self.bookmarks) as session:
                return session.execute_write(work, *args)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise GraphUnavailable(f"Neo4j is not reachable at {self.settings.uri}: {_why(exc)}") from exc

    def _run(self, query: str, params: dict, routing: RoutingControl) -> list[neo4j.Record]:
        # Reads are single auto-commit statements: ~0.25 ms cheaper per call than execute_query (no
        # bookmark manager, no transaction function), which is most of an entity read. One retry covers a
        # connection the server dropped while pooled.
        mode = neo4j.READ_ACCESS if routing == RoutingControl.READ else neo4j.WRITE_ACCESS
        params = _sent(params)
        try:
            for attempt in (1, 2):
                try:
                    with self.driver.session(database=self.database, default_access_mode=mode,
                                             bookmark_manager=self.bookmarks) as session:
                        return list(session.run(query, params))
                except (ServiceUnavailable, SessionExpired) as exc:
                    if attempt == 2:
                        raise GraphUnavailable(
                            f"Neo4j is not reachable at {self.settings.uri}: {_why(exc)}") from exc
            raise AssertionError("unreachable")
        finally:
            _let_go(params)


def _sent(params: dict) -> dict:
    """The parameters as sent: list values copied (a shallow copy: microseconds for a batch), see `_let_go`."""
    return {key: list(value) if type(value) is list else value for key, value in params.items()}


def _let_go(sent: dict) -> None:
    """Empty the lists `_sent` copied, once their statement has run.

    Why: the driver keeps a statement's parameters in its result's metadata, and results sit in reference
    cycles (result <-> its connection error handler) that only the cyclic collector frees. An ingest run
    pauses that collector (ingest.runs.paused_gc), so every batch it wrote (100k entity rows with their
    documents, 450k relation rows) stayed in memory until the run ended, and was then freed all at once.
    The caller's own lists are untouched."""
    for value in sent.values():
        if type(value) is list:
            value.clear()


def connect(settings: Settings | None = None, *, verify: bool = True, schema: bool = True) -> Graph:
    """Open the catalog graph; check the server answers and that the schema is in place."""
    graph = Graph(settings or Settings.from_env())
    try:
        if verify:
            graph.verify()
        if schema:
            apply_schema(graph)
    except Exception:
        graph.close()
        raise
    return graph
