"""Kubernetes runtime facts: `(:Entity)-[:DEPLOYED_AS]->(:KubernetesWorkload)-[:IN_NAMESPACE]->(:KubernetesNamespace)`.

Workloads (deployments, services) and namespaces are nodes of their own, never entity properties. Each
carries the source and cluster that reported it and the run that last saw it: cleanup after a cluster's
successful read deletes what that (source, cluster) reported before and not this time; a cluster that could
not be read is simply not cleaned.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

WORKLOAD_FIELDS = ("cluster", "namespace", "kind", "name", "replicas", "ready", "available", "updated", "healthy",
                   "images", "selector", "created_at", "service_type", "cluster_ip", "ports")

def load_cluster(graph: "Graph", source: str, run_id: str, cluster: str, namespaces: list[dict],
                 workloads: list[dict], links: list[tuple[str, str]]) -> int:
    """Write one cluster's namespaces, workloads and entity links; returns the number of nodes created."""
    created = graph.write(
        "UNWIND $rows AS row MERGE (n:KubernetesNamespace {uid: row.uid}) "
        "SET n.cluster = row.cluster, n.name = row.name, n.phase = row.phase, n.labels = row.labels, "
        "n.created_at = row.created_at, n.source = $source, n.run = $run",
        rows=[{**ns, "labels": json.dumps(ns["labels"], sort_keys=True)} for ns in namespaces],
        source=source, run=run_id,
    ).counters.nodes_created
    rows = [{"uid": w["uid"], "props": {**{f: w.get(f) for f in WORKLOAD_FIELDS},
                                         "labels": json.dumps(w["labels"], sort_keys=True)},
             "ns": f"{w['cluster']}/{w['namespace']}"} for w in workloads]
    for start in range(0, len(rows), 500):
        created += graph.write(
            "UNWIND $rows AS row MERGE (w:KubernetesWorkload {uid: row.uid}) "
            "SET w += row.props, w.source = $source, w.run = $run "
            "WITH w, row MERGE (n:KubernetesNamespace {uid: row.ns}) "
            "ON CREATE SET n.cluster = w.cluster, n.name = w.namespace, n.source = $source, n.run = $run "
            "MERGE (w)-[:IN_NAMESPACE]->(n)",
            rows=rows[start:start + 500], source=source, run=run_id,
        ).counters.nodes_created
    graph.write(
        "UNWIND $pairs AS pair MATCH (e:Entity {ref: pair[0]}) MATCH (w:KubernetesWorkload {uid: pair[1]}) "
        "MERGE (e)-[r:DEPLOYED_AS]->(w) SET r.source = $source, r.run = $run",
        pairs=[list(p) for p in links], source=source, run=run_id,
    )
    return created


def cleanup_cluster(graph: "Graph", source: str, run_id: str, cluster: str) -> int:
    """Delete what (source, cluster) reported before and not in this run; returns nodes deleted."""
    graph.write(
        "MATCH (:Entity)-[r:DEPLOYED_AS {source: $source}]->(w:KubernetesWorkload {cluster: $cluster}) "
        "WHERE r.run <> $run DELETE r",
        source=source, run=run_id, cluster=cluster,
    )
    deleted = graph.write(
        "MATCH (w:KubernetesWorkload {source: $source, cluster: $cluster}) WHERE w.run <> $run DETACH DELETE w",
        source=source, run=run_id, cluster=cluster,
    ).counters.nodes_deleted
    deleted += graph.write(
        "MATCH (n:KubernetesNamespace {source: $source, cluster: $cluster}) "
        "WHERE n.run <> $run AND NOT (n)<-[:IN_NAMESPACE]-() DETACH DELETE n",
        source=source, run=run_id, cluster=cluster,
    ).counters.nodes_deleted
    return deleted


def clusters_of(graph: "Graph", source: str) -> list[str]:
    rows = graph.read("MATCH (w:KubernetesWorkload {source: $source}) RETURN DISTINCT w.cluster AS c ORDER BY c",
                      source=source)
    return [r["c"] for r in rows]


def workloads_for(graph: "Graph", ref: str) -> list[dict]:
    """The workloads an entity is deployed as, by cluster, namespace, kind and name."""
    rows = graph.read(
        "MATCH (:Entity {ref: $ref})-[:DEPLOYED_AS]->(w:KubernetesWorkload) RETURN w "
        "ORDER BY w.cluster, w.namespace, w.kind, w.name",
        ref=ref,
    )
    return [{**{f: row["w"].get(f) for f in WORKLOAD_FIELDS}, "labels": json.loads(row["w"].get("labels") or "{}")}
            for row in rows]
