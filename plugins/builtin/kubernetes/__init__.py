"""Built-in Kubernetes plugin: the `kubernetes` provider (deployments, services, namespaces as runtime facts).

Source options: `clusters: [{name, url, token_secret_name?, namespaces?}]`. A cluster's bearer token comes from
`ctx.secret(token_secret_name)` (never from options). Each cluster's `url` must be a configured integration host
(usually under `integrations.allow`): the token goes nowhere else. Entities link through `backstage.io/kubernetes-id` or
`backstage.io/kubernetes-label-selector` (optionally limited by `backstage.io/kubernetes-namespace`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.api import Provider, SyncContext

if TYPE_CHECKING:
    from ingest.sync import IngestResult
    from plugins.registry import Registry


class KubernetesProvider(Provider):
    name = "kubernetes"

    def sync(self, ctx: SyncContext) -> "IngestResult":
        from ingest.providers import kubernetes
        from ingest.providers.ci.runs import recorded_run

        from ingest.integrations import check_url

        clusters = kubernetes.parse_clusters(ctx.options)
        for cluster in clusters:   # before anything is contacted: OutboundRefused fails the run
            check_url(cluster.url, ctx.outbound(), what="a kubernetes source")
        target = ", ".join(c.name for c in clusters)
        return recorded_run(ctx, target, lambda result, progress: kubernetes.sync_clusters(
            ctx.graph, result, clusters, ctx.secret, progress))


def register(registry: "Registry") -> None:
    """Entry point `trellis.plugins` -> `kubernetes`."""
    registry.add_provider(KubernetesProvider())
