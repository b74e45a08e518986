"""The database a read benchmark measures: NEO4J_URI's (WIPED and loaded with the synthetic catalog, unless
`reuse` keeps what is there) or a throwaway local Neo4j (2 GiB heap, 1 GiB page cache) stopped and deleted
afterwards. Shared by queries_bench and walk_bench so that both measure the same setup."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from benchmarks.synthetic import generate
from graph.driver import Graph, Settings, connect
from graph.server import start
from servers.base import free_port
from servers.neo4j import stop
from ingest.sync import ingest


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@contextmanager
def catalog_graph(name: str, entities: int, *, reuse: bool = False,
                  extra: Callable[[Path], list[Path]] | None = None) -> Iterator[Graph]:
    """A connected graph holding `entities` synthetic entities (seed 42), plus the folders `extra(workdir)`
    writes and returns (ingested after the catalog). `name` prefixes the temp folders (e.g. "qbench")."""
    os.environ.setdefault("TRELLIS_CACHE", tempfile.mkdtemp(prefix=f"trellis-{name}-cache-"))
    home = None
    if os.environ.get("NEO4J_URI"):
        settings = Settings.from_env()
    else:
        home = Path(tempfile.mkdtemp(prefix=f"trellis-{name}-"))
        settings = Settings(uri=start(home, bolt_port=free_port(), http_port=free_port(), heap="2g",
                                      pagecache="1g").uri)
    graph = connect(settings)
    try:
        if not reuse:
            while graph.write("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n").counters.nodes_deleted:
                pass
            workdir = Path(tempfile.mkdtemp(prefix=f"trellis-{name}-cat-"))
            generate(workdir / "catalog", entities, seed=42)
            folders = [workdir / "catalog", *(extra(workdir) if extra else [])]
            t0 = time.perf_counter()
            for folder in folders:
                ingest(graph, str(folder))
            print(f"ingested {entities} entities from {len(folders)} folder(s) in {time.perf_counter() - t0:.1f}s",
                  flush=True)
            shutil.rmtree(workdir, ignore_errors=True)
        yield graph
    finally:
        graph.close()
        if home is not None:
            stop(home)
            shutil.rmtree(home, ignore_errors=True)
