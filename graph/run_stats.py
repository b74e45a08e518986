"""Counters of finished ingest runs by status, with their durations in fixed buckets, kept in the graph.

Why in the graph: runs finish in many processes (workers, the portal's registrations, the CLI, on other
hosts), and run records are kept only 500 deep (graph.runs.RUNS_KEPT), so neither one process's memory nor a
count of the records is a counter. `fold` adds each finished run to `(:IngestRunStats {status})` once, marking
it `counted`; it waits until a run has been finished for `SETTLE_MS`, because a provider may still turn an
`ok` into `partial` right after (ingest.runs.add_problems). `/metrics` folds, then reports the counters.
"""
from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

#: Upper bounds (seconds) of the duration buckets; a last bucket takes everything longer (+Inf).
BUCKETS: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
FINAL_STATUSES = ("ok", "partial", "failed", "skipped")
SETTLE_MS = 5000
_BATCH = 5000


def fold(graph: "Graph", *, settle_ms: int = SETTLE_MS) -> int:
    """Add the runs that finished at least `settle_ms` ago and are not counted yet; returns how many."""
    def work(tx) -> int:
        # One folder at a time: every fold write-locks this node first, so no run is counted twice.
        tx.run("MERGE (l:CatalogMeta {key: 'run-stats'}) SET l.folded_at = timestamp()").consume()
        rows = list(tx.run(
            "MATCH (r:IngestRun) WHERE r.counted IS NULL AND r.status IN $final AND r.finished_at IS NOT NULL "
            "AND r.finished_at <= timestamp() - $settle "
            "RETURN r.id AS id, r.status AS status, r.seconds AS seconds, r.started_at AS started, "
            "r.finished_at AS finished LIMIT $batch",
            final=list(FINAL_STATUSES), settle=settle_ms, batch=_BATCH))
        if not rows:
            return 0
        stats: dict[str, dict] = {}
        for row in rows:
            seconds = row["seconds"]
            if seconds is None:
                seconds = max(0, (row["finished"] or 0) - (row["started"] or row["finished"] or 0)) / 1000
            entry = stats.setdefault(row["status"], {"status": row["status"], "count": 0, "sum": 0.0,
                                                     "buckets": [0] * (len(BUCKETS) + 1)})
            entry["count"] += 1
            entry["sum"] += float(seconds)
            entry["buckets"][bisect.bisect_left(BUCKETS, float(seconds))] += 1
        tx.run(
            "UNWIND $stats AS st MERGE (s:IngestRunStats {status: st.status}) "
            "SET s.count = coalesce(s.count, 0) + st.count, s.seconds_sum = coalesce(s.seconds_sum, 0.0) + st.sum, "
            "s.buckets = [i IN range(0, size(st.buckets) - 1) | coalesce(s.buckets[i], 0) + st.buckets[i]], "
            "s.updated_at = timestamp()",
            stats=list(stats.values())).consume()
        tx.run("UNWIND $ids AS id MATCH (r:IngestRun {id: id}) SET r.counted = true",
               ids=[row["id"] for row in rows]).consume()
        return len(rows)

    total = 0
    while (done := graph.write_tx(work)):
        total += done
        if done < _BATCH:
            break
    return total


def read(graph: "Graph") -> list[dict]:
    """`[{status, count, seconds_sum, buckets}]`: `buckets[i]` counts runs of at most BUCKETS[i] seconds (not
    cumulative; the last one counts the longer runs)."""
    rows = graph.read("MATCH (s:IngestRunStats) RETURN s.status AS status, s.count AS count, "
                      "s.seconds_sum AS seconds_sum, s.buckets AS buckets ORDER BY s.status")
    return [{"status": r["status"], "count": r["count"] or 0, "seconds_sum": r["seconds_sum"] or 0.0,
             "buckets": list(r["buckets"] or [0] * (len(BUCKETS) + 1))} for r in rows]
