"""Cluster routing: every read the graph layer runs goes through the driver's read routing and every write
through its write routing, so a cluster's secondaries (or Aura's read replicas) can serve the reads.

No cluster runs here. The driver is wrapped instead: every session and execute_query the graph layer opens
is recorded with its access mode and the statements it runs, over a workload of ingest, the portal's pages
and the API's reads; afterwards the server itself says what each statement is (EXPLAIN's query type: 'r'
reads only) and that is compared with the routing it was sent with.
"""
from __future__ import annotations

from pathlib import Path

import neo4j
import pytest
from neo4j import RoutingControl

from app import create_app
from graph.driver import Graph, Settings
from tests.portal_helpers import OPEN_PORTAL, with_csrf

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo-catalog"


class RecordingDriver:
    """The real driver, plus a log of `(routing, transaction id, query, params)` for every statement."""

    def __init__(self, driver):
        self._driver = driver
        self.log: list[tuple[str, int, str, dict]] = []
        self.sessions: list[str] = []
        self._tx = 0

    def __getattr__(self, name):
        return getattr(self._driver, name)

    def _next_tx(self) -> int:
        self._tx += 1
        return self._tx

    def execute_query(self, query, parameters=None, *args, routing_=RoutingControl.WRITE, **kwargs):
        mode = "READ" if routing_ == RoutingControl.READ else "WRITE"
        self.sessions.append(mode)
        self.log.append((mode, self._next_tx(), str(query), dict(parameters or {})))
        return self._driver.execute_query(query, parameters, *args, routing_=routing_, **kwargs)

    def session(self, **kwargs):
        mode = "READ" if kwargs.get("default_access_mode", neo4j.WRITE_ACCESS) == neo4j.READ_ACCESS else "WRITE"
        self.sessions.append(mode)
        return _Session(self, self._driver.session(**kwargs), mode)


class _Session:
    def __init__(self, recorder: RecordingDriver, inner, mode: str):
        self._rec, self._inner, self._mode = recorder, inner, mode

    def __enter__(self):
        self._inner.__enter__()
        return self

    def __exit__(self, *exc):
        return self._inner.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def run(self, query, parameters=None, **kwargs):
        self._rec.log.append((self._mode, self._rec._next_tx(), str(query), dict(parameters or {}, **kwargs)))
        return self._inner.run(query, parameters, **kwargs)

    def _managed(self, method: str, mode: str, work, *args, **kwargs):
        tx_id = self._rec._next_tx()
        rec = self._rec

        class _Tx:
            def __init__(self, tx):
                self._tx = tx

            def __getattr__(self, name):
                return getattr(self._tx, name)

            def run(self, query, parameters=None, **kw):
                rec.log.append((mode, tx_id, str(query), dict(parameters or {}, **kw)))
                return self._tx.run(query, parameters, **kw)

        return getattr(self._inner, method)(lambda tx, *a, **k: work(_Tx(tx), *a, **k), *args, **kwargs)

    def execute_write(self, work, *args, **kwargs):
        return self._managed("execute_write", "WRITE", work, *args, **kwargs)

    def execute_read(self, work, *args, **kwargs):
        return self._managed("execute_read", "READ", work, *args, **kwargs)


def _query_type(driver, query: str, params: dict) -> str:
    """The server's verdict on one statement: 'r' read only, 'w'/'rw' writes, 's' schema."""
    try:
        summary = driver.execute_query("EXPLAIN " + query, params, database_="neo4j",
                                       result_transformer_=neo4j.Result.consume)
    except neo4j.exceptions.ClientError:   # not explainable (schema and admin commands): a write
        return "s"
    return summary.query_type


def _verdicts(driver, recorder: RecordingDriver) -> tuple[list, list]:
    """(reads sent to write routing, writes sent to read routing). Reads inside a write transaction that
    also writes are part of it (they must see its own writes), so they are not counted."""
    seen: dict[tuple, str] = {}
    writes_by_tx: dict[int, bool] = {}
    rows = []
    for mode, tx, query, params in recorder.log:
        key = (query, tuple(sorted(params)))
        if key not in seen:
            seen[key] = _query_type(driver, query, params)
        kind = seen[key]
        rows.append((mode, tx, query, kind))
        writes_by_tx[tx] = writes_by_tx.get(tx, False) or kind != "r"
    reads_on_writer = sorted({q[:160] for mode, tx, q, kind in rows if mode == "WRITE" and not writes_by_tx[tx]})
    writes_on_reader = sorted({q[:160] for mode, tx, q, kind in rows if mode == "READ" and kind != "r"})
    return reads_on_writer, writes_on_reader


@pytest.fixture(scope="module")
def recorded(graph_module, neo4j_uri, neo4j_driver, tmp_path_factory):
    """Ingest the demo catalog and read it through the portal and the API, every statement recorded."""
    from app.auth.tokens import issue_token
    from ingest.sync import ingest

    recorder = RecordingDriver(graph_module.driver)
    graph_module.driver = recorder
    try:
        result = ingest(graph_module, str(DEMO))
        assert result.added == 117
        ingest(graph_module, str(DEMO))          # unchanged re-ingest: the reads that decide nothing changed
        token, _ = issue_token(graph_module, name="routing", owner="user:default/routing-viewer",
                               kind="personal", scopes=["catalog:read", "reports:read"])
    finally:
        graph_module.driver = recorder._driver
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_LOCATION_ROOTS": [str(DEMO)],
                      "TRELLIS_LOCATION_ALLOW_GIT": False, **OPEN_PORTAL})
    app_graph: Graph = app.extensions["trellis.graph"]
    app_graph.driver = RecordingDriver(app_graph.driver)
    client = with_csrf(app.test_client())
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    pages = ["/catalog?kind=component", "/catalog/default/resource/payments-db?tab=impact",
             "/catalog/default/component/checkout-service", "/catalog/default/component/checkout-service?tab=graph",
             "/catalog/default/component/checkout-service?tab=dependencies", "/reports/ownership", "/paths"]
    reads = ["/api/v1/entities/by-name/component/default/checkout-service",
             "/api/v1/entities/by-query?filter=kind=component&limit=50",
             "/api/v1/entity-facets?facet=spec.type", "/api/v1/entities/by-name/resource/default/payments-db/impact",
             "/api/v1/entities/by-name/resource/default/payments-db/impact?limit=5",
             "/api/v1/entities/by-name/component/default/checkout-service/dependencies",
             "/api/v1/graph/neighbourhood?ref=component:default/checkout-service",
             "/api/v1/graph/paths?from=component:default/checkout-service&to=resource:default/payments-db",
             "/api/v1/reports/ownership", "/api/v1/search?q=payments"]
    try:
        for path in pages:
            assert client.get(path).status_code in (200, 404), path
        for path in reads:
            assert api.get(path, headers=bearer).status_code in (200, 404), path
        assert client.post("/api/v1/entities/by-name/component/default/checkout-service/refresh").status_code < 500
        yield [recorder, app_graph.driver]
    finally:
        app_graph.driver = app_graph.driver._driver
        app_graph.close()


def test_every_session_the_graph_layer_opens_names_its_routing(recorded):
    assert all(r.sessions for r in recorded)
    reads = recorded[1].sessions.count("READ")
    assert reads > 20, recorded[1].sessions      # the portal's reads really went to read routing


def test_no_read_goes_to_the_writer_and_no_write_to_a_reader(recorded, neo4j_driver):
    for recorder in recorded:
        reads_on_writer, writes_on_reader = _verdicts(neo4j_driver, recorder)
        assert writes_on_reader == [], "writes sent through read routing (a secondary refuses them)"
        assert reads_on_writer == [], "reads sent through write routing (they load the leader)"


def test_reads_after_own_writes_follow_bookmarks_on_a_routed_uri():
    """On `neo4j://` a read session carries the bookmarks of this process's writes, so a secondary that has
    not caught up waits instead of answering from before the write. No connection is made here."""
    routed = Graph(Settings(uri="neo4j://127.0.0.1:1", user="neo4j", password="x"))
    direct = Graph(Settings(uri="bolt://127.0.0.1:1", user="neo4j", password="x"))
    try:
        assert routed.bookmarks is routed.driver.execute_query_bookmark_manager
        assert direct.bookmarks is None
    finally:
        routed.close()
        direct.close()
