"""Kubernetes: pure transforms from API items to workload and namespace records, and entity links.

- items -> workload records (Deployments, Services) and namespace records;
- entities -> workloads links, by Backstage's rules:
  - `backstage.io/kubernetes-id: X` on an entity matches objects labelled `backstage.io/kubernetes-id: X`;
  - `backstage.io/kubernetes-label-selector: app=x,tier in (web)` matches objects whose labels satisfy it;
  - `backstage.io/kubernetes-namespace: ns` limits either to that namespace.
- the `clusters` option parsed, with a clear error when malformed.
No network, no graph: unit-tested on payloads alone (tests/test_kubernetes_transform.py).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

ID_ANNOTATION = "backstage.io/kubernetes-id"
SELECTOR_ANNOTATION = "backstage.io/kubernetes-label-selector"
NAMESPACE_ANNOTATION = "backstage.io/kubernetes-namespace"
ID_LABEL = "backstage.io/kubernetes-id"
ANNOTATIONS = (ID_ANNOTATION, SELECTOR_ANNOTATION)


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
