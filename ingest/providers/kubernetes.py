"""Kubernetes: deployments, services and namespaces of one or more clusters as runtime facts.

get: plain HTTPS GETs to the API server (`/apis/apps/v1/deployments`, `/api/v1/services`,
`/api/v1/namespaces`, or per namespace), paged with `limit` + `continue` as the Kubernetes API documents.
transform (pure): items -> workload and namespace records; entities -> workloads links, by Backstage's rules:
- `backstage.io/kubernetes-id: X` on an entity matches objects labelled `backstage.io/kubernetes-id: X`;
- `backstage.io/kubernetes-label-selector: app=x,tier in (web)` matches objects whose labels satisfy it;
- `backstage.io/kubernetes-namespace: ns` limits either to that namespace.
load/cleanup: graph.kubernetes, per (source, cluster): a cluster that fails keeps what it had.
TLS: the cluster CA comes from the standard `REQUESTS_CA_BUNDLE` (requests honours it).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ingest.providers.http import ApiClient, ProviderError

if TYPE_CHECKING:
    from graph.driver import Graph
    from ingest.sync import IngestResult

ID_ANNOTATION = "backstage.io/kubernetes-id"
SELECTOR_ANNOTATION = "backstage.io/kubernetes-label-selector"
NAMESPACE_ANNOTATION = "backstage.io/kubernetes-namespace"
ID_LABEL = "backstage.io/kubernetes-id"
ANNOTATIONS = (ID_ANNOTATION, SELECTOR_ANNOTATION)
PAGE_SIZE = 500


def client(api_url: str, token: str | None, **kwargs: Any) -> ApiClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return ApiClient(api_url, provider="Kubernetes", headers=headers, **kwargs)


def list_items(http: ApiClient, path: str, *, page_size: int = PAGE_SIZE, max_pages: int = 10_000) -> Iterator[dict]:
    """Every item of a Kubernetes list, following `metadata.continue` tokens."""
    token: str | None = None
    for _ in range(max_pages):
        params: dict[str, Any] = {"limit": page_size}
        if token:
            params["continue"] = token
        page = http.get(path, params)
        body = page.body if page else None
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ProviderError(f"Kubernetes returned something that is not a list for {path}")
        yield from body["items"]
        token = (body.get("metadata") or {}).get("continue") or None
        if not token:
            return
    raise ProviderError(f"Kubernetes pagination does not end for {path}")


def paths(namespaces: list[str] | None) -> dict[str, list[str]]:
    """The list URLs to read: cluster-wide, or one per configured namespace."""
    if not namespaces:
        return {"Deployment": ["/apis/apps/v1/deployments"], "Service": ["/api/v1/services"],
                "Namespace": ["/api/v1/namespaces"]}
    return {"Deployment": [f"/apis/apps/v1/namespaces/{ns}/deployments" for ns in namespaces],
            "Service": [f"/api/v1/namespaces/{ns}/services" for ns in namespaces],
            "Namespace": [f"/api/v1/namespaces/{ns}" for ns in namespaces]}


def get_cluster(http: ApiClient, namespaces: list[str] | None = None) -> dict[str, list[dict]]:
    """Raw items by kind for one cluster."""
    out: dict[str, list[dict]] = {}
    for kind, urls in paths(namespaces).items():
        items: list[dict] = []
        for url in urls:
            if kind == "Namespace" and namespaces:
                page = http.get(url)
                items.append(page.body if page else {})
            else:
                items.extend(list_items(http, url))
        out[kind] = items
    return out


# ------------------------------------------------------------------------------------------ transform

def _ms(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _labels(meta: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}


def workload_uid(cluster: str, namespace: str, kind: str, name: str) -> str:
    return f"{cluster}/{namespace}/{kind}/{name}"


def transform_deployment(cluster: str, item: dict) -> dict:
    """An apps/v1 Deployment as a workload record (pure)."""
    meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    replicas = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0) or 0
    return {
        "uid": workload_uid(cluster, meta["namespace"], "Deployment", meta["name"]),
        "cluster": cluster, "namespace": meta["namespace"], "kind": "Deployment", "name": meta["name"],
        "labels": _labels(meta),
        "replicas": replicas, "ready": ready,
        "available": status.get("availableReplicas", 0) or 0, "updated": status.get("updatedReplicas", 0) or 0,
        "healthy": ready >= (replicas or 0),
        "images": [c.get("image") for c in containers if c.get("image")],
        "selector": json.dumps((spec.get("selector") or {}).get("matchLabels") or {}, sort_keys=True),
        "created_at": _ms(meta.get("creationTimestamp")),
        "service_type": None, "cluster_ip": None, "ports": [],
    }


def transform_service(cluster: str, item: dict) -> dict:
    """A v1 Service as a workload record (pure)."""
    meta, spec = item.get("metadata") or {}, item.get("spec") or {}
    ports = [f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []]
    return {
        "uid": workload_uid(cluster, meta["namespace"], "Service", meta["name"]),
        "cluster": cluster, "namespace": meta["namespace"], "kind": "Service", "name": meta["name"],
        "labels": _labels(meta),
        "replicas": None, "ready": None, "available": None, "updated": None, "healthy": None, "images": [],
        "selector": json.dumps(spec.get("selector") or {}, sort_keys=True),
        "created_at": _ms(meta.get("creationTimestamp")),
        "service_type": spec.get("type", "ClusterIP"), "cluster_ip": spec.get("clusterIP"), "ports": ports,
    }


def transform_namespace(cluster: str, item: dict) -> dict:
    meta = item.get("metadata") or {}
    return {"uid": f"{cluster}/{meta['name']}", "cluster": cluster, "name": meta["name"],
            "phase": (item.get("status") or {}).get("phase"), "labels": _labels(meta),
            "created_at": _ms(meta.get("creationTimestamp"))}


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                 # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has, value = self.key in labels, labels.get(self.key)
        if self.op == "=":
            return has and value == self.values[0]
        if self.op == "!=":
            return not has or value != self.values[0]
        if self.op == "in":
            return has and value in self.values
        if self.op == "notin":
            return not has or value not in self.values
        if self.op == "exists":
            return has
        return not has


_SET = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*$")


def parse_selector(text: str) -> list[Requirement]:
    """A Kubernetes label selector string (equality- and set-based), as `kubectl -l` takes it."""
    parts, depth, current = [], 0, ""
    for ch in text:          # split on commas outside parentheses
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    out = []
    for part in parts:
        if not part.strip():
            continue
        if m := _SET.match(part):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            out.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ.match(part):
            out.append(Requirement(m.group(1), "!=" if m.group(2) == "!=" else "=", (m.group(3),)))
        elif m := _EXISTS.match(part):
            out.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise ValueError(f"not a label selector: {part.strip()!r}")
    if not out:
        raise ValueError("empty label selector")
    return out


def link(entities: list[tuple[str, dict]], workloads: list[dict]) -> tuple[list[tuple[str, str]], list[dict]]:
    """(entity ref, workload uid) pairs by the kubernetes-id / label-selector annotations, and problems (pure).

    A bad selector is a problem for that entity only.
    """
    pairs: list[tuple[str, str]] = []
    problems: list[dict] = []
    by_id: dict[str, list[dict]] = {}
    for w in workloads:   # kubernetes-id lookups by label value, not a scan per entity
        if w["labels"].get(ID_LABEL):
            by_id.setdefault(w["labels"][ID_LABEL], []).append(w)
    for ref, annotations in entities:
        kid = str(annotations.get(ID_ANNOTATION) or "").strip()
        selector_text = str(annotations.get(SELECTOR_ANNOTATION) or "").strip()
        namespace = str(annotations.get(NAMESPACE_ANNOTATION) or "").strip() or None
        selector = None
        if selector_text:
            try:
                selector = parse_selector(selector_text)
            except ValueError as exc:
                problems.append({"ref": ref, "field": f'metadata.annotations["{SELECTOR_ANNOTATION}"]',
                                 "reason": str(exc)})
        matched: dict[str, None] = {}
        for w in by_id.get(kid, []) if kid else []:
            if not namespace or w["namespace"] == namespace:
                matched[w["uid"]] = None
        if selector:
            for w in workloads:
                if (not namespace or w["namespace"] == namespace) and all(r.matches(w["labels"]) for r in selector):
                    matched[w["uid"]] = None
        pairs.extend((ref, uid) for uid in matched)
    return pairs, problems


# ------------------------------------------------------------------------------------------ sync

@dataclass(frozen=True)
class Cluster:
    name: str
    url: str
    token_secret_name: str | None = None
    namespaces: tuple[str, ...] = ()


def parse_clusters(options: dict) -> list[Cluster]:
    """The `clusters` option: [{name, url, token_secret_name?, namespaces?}], with a clear error when malformed."""
    raw = options.get("clusters")
    if not isinstance(raw, list) or not raw:
        raise ValueError("the kubernetes source needs a `clusters` list of {name, url[, token_secret_name, namespaces]}")
    out, names = [], set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("name") or not item.get("url"):
            raise ValueError(f"clusters[{i}] needs `name` and `url`")
        name = str(item["name"])
        if name in names:
            raise ValueError(f"cluster name {name!r} appears twice")
        names.add(name)
        namespaces = item.get("namespaces") or []
        if not isinstance(namespaces, list) or not all(isinstance(n, str) and n for n in namespaces):
            raise ValueError(f"clusters[{i}].namespaces must be a list of namespace names")
        out.append(Cluster(name, str(item["url"]), item.get("token_secret_name"), tuple(namespaces)))
    return out


def transform_cluster(cluster: str, raw: dict[str, list[dict]]) -> tuple[list[dict], list[dict]]:
    """Raw items by kind -> (namespaces, workloads) records (pure)."""
    namespaces = [transform_namespace(cluster, i) for i in raw.get("Namespace", []) if i]
    workloads = [transform_deployment(cluster, i) for i in raw.get("Deployment", [])]
    workloads += [transform_service(cluster, i) for i in raw.get("Service", [])]
    return namespaces, workloads


def sync_clusters(graph: "Graph", result: "IngestResult", clusters: list[Cluster], secret: Callable[[str], str],
                  progress: Callable[[str, int, int], None] = lambda s, d, t: None,
                  **client_kwargs: Any) -> "IngestResult":
    """get -> transform -> load -> cleanup for each cluster; a failing cluster is reported and keeps its facts.

    Fills `result` (IngestResult): `added` nodes created, `unchanged` nodes seen again, `removed` nodes
    deleted, `files` clusters read,
    `rejected` one item per failed cluster or bad selector. Every cluster failing raises the first error.
    """
    import time

    from graph import builds as graph_builds
    from graph import kubernetes as graph_k8s

    started = time.perf_counter()
    entities = graph_builds.annotated_entities(graph, ANNOTATIONS)
    failures: list[Exception] = []
    for done, cluster in enumerate(clusters):
        progress(f"reading cluster {cluster.name}", done, len(clusters))
        try:
            token = secret(cluster.token_secret_name) if cluster.token_secret_name else None
            http = client(cluster.url, token, **client_kwargs)
            try:
                raw = get_cluster(http, list(cluster.namespaces) or None)
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
        created = graph_k8s.load_cluster(graph, result.source, result.run, cluster.name, namespaces, workloads,
                                         pairs)
        result.added += created
        result.removed += graph_k8s.cleanup_cluster(graph, result.source, result.run, cluster.name)
        result.files += 1
        result.unchanged += max(0, len(workloads) + len(namespaces) - created)
    if failures and len(failures) == len(clusters):
        raise failures[0]
    progress("done", len(clusters), len(clusters))
    result.seconds = time.perf_counter() - started
    return result
