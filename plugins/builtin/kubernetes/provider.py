"""The Kubernetes provider: each cluster's deployments, services and namespaces as runtime facts.

get (plugins.builtin.kubernetes.get) -> transform (.transform) -> ctx.facts, per (source, cluster): a
cluster that fails keeps what it had. Every cluster URL is checked against the outbound policy before
anything is contacted: the bearer token goes nowhere else.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from plugins.api import FactsResult, FactsWriters, Provider, SyncContext
from plugins.builtin.kubernetes import get
from plugins.builtin.kubernetes.transform import ANNOTATIONS, Cluster, link, parse_clusters, transform_cluster


def sync_clusters(facts: FactsWriters, result: FactsResult, clusters: list[Cluster], secret: Callable[[str], str],
                  progress: Callable[[str, int, int], None] = lambda s, d, t: None,
                  **client_kwargs: Any) -> FactsResult:
    """get -> transform -> load -> cleanup for each cluster; a failing cluster is reported and keeps its facts.

    Fills `result`: `created` nodes created, `seen_again` nodes seen again, `removed` nodes deleted, `read`
    clusters read, `rejected` one item per failed cluster or bad selector. Every cluster failing raises the
    first error.
    """
    started = time.perf_counter()
    entities = facts.annotated_entities(ANNOTATIONS)
    failures: list[Exception] = []
    for done, cluster in enumerate(clusters):
        progress(f"reading cluster {cluster.name}", done, len(clusters))
        try:
            token = secret(cluster.token_secret_name) if cluster.token_secret_name else None
            http = get.client(cluster.url, token, **client_kwargs)
            try:
                raw = get.get_cluster(http, list(cluster.namespaces) or None)
            finally:
                http.close()
            namespaces, workloads = transform_cluster(cluster.name, raw)
        except Exception as exc:   # any failure of this cluster: isolate it, keep what it had
            failures.append(exc)
            result.rejected.append({"file": f"cluster:{cluster.name}", "document": None, "ref": None,
                                    "field": None, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        pairs, problems = link(entities, workloads)
        result.rejected.extend({"file": f"cluster:{cluster.name}", "document": None, **p} for p in problems)
        created = facts.load_cluster(result.source, result.run, cluster.name, namespaces, workloads, pairs)
        result.created += created
        result.removed += facts.cleanup_cluster(result.source, result.run, cluster.name)
        result.read += 1
        result.seen_again += max(0, len(workloads) + len(namespaces) - created)
    if failures and len(failures) == len(clusters):
        raise failures[0]
    progress("done", len(clusters), len(clusters))
    result.seconds = time.perf_counter() - started
    return result


class KubernetesProvider(Provider):
    name = "kubernetes"

    def sync(self, ctx: SyncContext) -> FactsResult:
        clusters = parse_clusters(ctx.options)
        for cluster in clusters:   # before anything is contacted: OutboundRefused fails the run
            ctx.check_url(cluster.url, what="a kubernetes source")
        target = ", ".join(c.name for c in clusters)
        return ctx.facts_run(target, lambda result, progress: sync_clusters(
            ctx.facts, result, clusters, ctx.secret, progress))
