"""Built-in Kubernetes plugin: the `kubernetes` provider (deployments, services, namespaces as runtime facts).

Source options: `clusters: [{name, url, token_secret_name?, namespaces?}]`. A cluster's bearer token comes from
`ctx.secret(token_secret_name)` (never from options). Each cluster's `url` must be a configured integration host
(usually under `integrations.allow`): the token goes nowhere else. Entities link through `backstage.io/kubernetes-id` or
`backstage.io/kubernetes-label-selector` (optionally limited by `backstage.io/kubernetes-namespace`).
"""
from __future__ import annotations

from plugins.builtin.kubernetes.provider import KubernetesProvider


def register(registry) -> None:
    """Entry point `trellis.plugins` -> `kubernetes`."""
    registry.add_provider(KubernetesProvider())
