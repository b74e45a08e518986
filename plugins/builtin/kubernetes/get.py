"""Kubernetes get: plain HTTPS GETs to the API server, through the door's HTTP client.

`/apis/apps/v1/deployments`, `/api/v1/services`, `/api/v1/namespaces` (or per namespace), paged with
`limit` + `continue` as the Kubernetes API documents. TLS: the cluster CA comes from the standard
`REQUESTS_CA_BUNDLE` (requests honours it).
"""
from __future__ import annotations

from typing import Any, Iterator

from plugins.api import ApiClient, ProviderError

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
