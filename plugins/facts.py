"""Runtime-fact writers a provider gets as `ctx.facts` (re-exported by plugins.api): CI builds, Kubernetes
workloads and repository facts, backed by their graph/ modules.

Why through the door: a plugin imports only plugins.api, and facts are not entities (they never go through
ingest's validation, kind rules or removal guard). Each writer keeps the cleanup rule of its graph module:
what a source reported before and not this time goes, what could not be read stays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

from graph import builds as graph_builds
from graph import kubernetes as graph_kubernetes
from graph import repositories as graph_repositories
from graph import write as graph_write

if TYPE_CHECKING:
    from graph.driver import Graph

DEFAULT_KEEP_BUILDS = graph_builds.DEFAULT_KEEP


@dataclass(frozen=True)
class FactsWriters:
    """The facts writers of one graph."""

    graph: "Graph"

    def annotated_entities(self, keys: Iterable[str]) -> list[tuple[str, dict]]:
        """(ref, annotations) of every stored entity carrying one of the annotation `keys`."""
        return graph_builds.annotated_entities(self.graph, keys)

    # ---------------------------------------------------------------- CI builds
    def load_builds(self, source: str, run_id: str, links: list[dict],
                    keep: int = DEFAULT_KEEP_BUILDS) -> tuple[int, int]:
        """Write builds (`links` = [{ref, builds}]), each entity trimmed to `keep`: (records seen, created)."""
        return graph_builds.load_builds(self.graph, source, run_id, links, keep)

    def cleanup_builds(self, source: str, seen: list[dict], keep_refs: Iterable[str] = ()) -> int:
        """Unlink builds `source` linked before and did not report again (not for `keep_refs`)."""
        return graph_builds.cleanup(self.graph, source, seen, keep_refs=keep_refs)

    # ---------------------------------------------------------------- Kubernetes
    def load_cluster(self, source: str, run_id: str, cluster: str, namespaces: list[dict],
                     workloads: list[dict], links: list[tuple[str, str]]) -> int:
        """Write one cluster's namespaces, workloads and entity links; the number of nodes created."""
        return graph_kubernetes.load_cluster(self.graph, source, run_id, cluster, namespaces, workloads, links)

    def cleanup_cluster(self, source: str, run_id: str, cluster: str) -> int:
        """Delete what (source, cluster) reported before and not in `run_id`; the number removed."""
        return graph_kubernetes.cleanup_cluster(self.graph, source, run_id, cluster)

    # ---------------------------------------------------------------- repositories
    def location_entities(self, location_key: str) -> dict[str, tuple[str | None, str | None]]:
        """{ref: (file, declared owner)} of the entities a location owns."""
        stored = graph_write.stored_by_source(self.graph, location_key)
        owners = graph_repositories.declared_owners(self.graph, list(stored))
        return {ref: (s.file, owners.get(ref)) for ref, s in stored.items()}

    def record_repository(self, repo: dict, links: Sequence[dict], *, source: str) -> None:
        """A repository's facts (default branch, last commit) and its entities' CODEOWNERS links."""
        graph_repositories.record_repository(self.graph, repo, links, source=source)
