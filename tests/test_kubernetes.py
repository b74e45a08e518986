"""Kubernetes provider: deployments, services, namespaces as runtime facts linked to components.

Pure transforms, selector parsing and linking are unit-tested; the provider reads recorded API responses
(apps/v1 DeploymentList with `continue` paging, v1 ServiceList, v1 NamespaceList) from a real local HTTP
server and loads into the real Neo4j.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from graph import kubernetes as graph_k8s
from plugins.builtin.kubernetes import transform as k8s
from plugins.http import ApiClient
from ingest.sync import ingest
from ingest.context import sync_context
from plugins.builtin.kubernetes import KubernetesProvider
from tests.fixtures.ci.server import RecordedServer, recorded

K8S = Path(__file__).resolve().parent / "fixtures" / "k8s"


def fx(name: str) -> dict:
    return recorded(name, K8S)


# ------------------------------------------------------------------------------------------ transforms

def test_deployment_transform():
    record = k8s.transform_deployment("prod", fx("deployments_page1.json")["items"][0])
    assert record["uid"] == "prod/shop/Deployment/checkout-web"
    assert (record["replicas"], record["ready"], record["available"], record["healthy"]) == (3, 2, 2, False)
    assert record["images"] == ["registry.example.com/checkout:1.4.2"]
    assert record["labels"]["backstage.io/kubernetes-id"] == "checkout"
    worker = k8s.transform_deployment("prod", fx("deployments_page2.json")["items"][0])
    assert worker["ready"] == 0 and worker["healthy"] is False     # status without readyReplicas


def test_service_and_namespace_transform():
    svc = k8s.transform_service("prod", fx("services.json")["items"][0])
    assert svc["kind"] == "Service" and svc["ports"] == ["80/TCP"] and svc["cluster_ip"] == "10.96.14.20"
    assert svc["replicas"] is None
    ns = k8s.transform_namespace("prod", fx("namespaces.json")["items"][1])
    assert ns == {"uid": "prod/payments", "cluster": "prod", "name": "payments", "phase": "Active",
                  "labels": {"kubernetes.io/metadata.name": "payments", "team": "payments"},
                  "created_at": 1789207200000}


@pytest.mark.parametrize("selector,labels,matches", [
    ("app=payments", {"app": "payments"}, True),
    ("app==payments,component!=worker", {"app": "payments", "component": "worker"}, False),
    ("app in (payments, shop),tier notin (db)", {"app": "shop", "tier": "web"}, True),
    ("app in (payments, shop),tier notin (db)", {"app": "shop", "tier": "db"}, False),
    ("component", {"component": "api"}, True),
    ("!component", {"component": "api"}, False),
])
def test_label_selector(selector, labels, matches):
    assert all(r.matches(labels) for r in k8s.parse_selector(selector)) is matches


def test_bad_selector_is_rejected():
    with pytest.raises(ValueError):
        k8s.parse_selector("app = = x")
    with pytest.raises(ValueError):
        k8s.parse_selector(" , ")


def test_link_by_id_selector_and_namespace():
    workloads = [k8s.transform_deployment("c", d) for d in fx("deployments_page1.json")["items"]
                 + fx("deployments_page2.json")["items"]]
    workloads += [k8s.transform_service("c", s) for s in fx("services.json")["items"]]
    pairs, problems = k8s.link([
        ("component:default/checkout", {"backstage.io/kubernetes-id": "checkout"}),
        ("component:default/payments", {"backstage.io/kubernetes-label-selector": "app=payments,component=api"}),
        ("component:default/elsewhere", {"backstage.io/kubernetes-id": "checkout",
                                         "backstage.io/kubernetes-namespace": "other"}),
        ("component:default/broken", {"backstage.io/kubernetes-label-selector": "app in (x"}),
    ], workloads)
    assert sorted(pairs) == [
        ("component:default/checkout", "c/shop/Deployment/checkout-web"),
        ("component:default/checkout", "c/shop/Service/checkout"),
        ("component:default/payments", "c/payments/Deployment/payments-api"),
    ]
    assert [p["ref"] for p in problems] == ["component:default/broken"]


def test_cluster_options_are_checked():
    with pytest.raises(ValueError, match="clusters"):
        k8s.parse_clusters({})
    with pytest.raises(ValueError, match="twice"):
        k8s.parse_clusters({"clusters": [{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]})


# ------------------------------------------------------------------------------------------ integration

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations:
    backstage.io/kubernetes-id: checkout
spec: {type: service, lifecycle: production, owner: shop-team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  annotations:
    backstage.io/kubernetes-label-selector: "app=payments"
    backstage.io/kubernetes-namespace: payments
spec: {type: service, lifecycle: production, owner: payments-team}
"""


def _serve_cluster(server: RecordedServer, *, drop_worker: bool = False) -> None:
    server.json("/apis/apps/v1/deployments", fx("deployments_page1.json"))
    page2 = fx("deployments_page2.json")
    if drop_worker:
        page2["items"] = []
    server.json("/apis/apps/v1/deployments", page2, query={"continue": fx("deployments_page1.json")["metadata"]["continue"]})
    server.json("/api/v1/services", fx("services.json"))
    server.json("/api/v1/namespaces", fx("namespaces.json"))


@pytest.fixture
def catalog(graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(CATALOG)
    assert ingest(graph, str(tmp_path)).added == 2


def _ctx(graph, run_id, clusters):
    """A source whose clusters' API servers are the operator's allowed hosts."""
    from urllib.parse import urlsplit

    from ingest.integrations import parse_integrations

    allowed = sorted({f"{urlsplit(c['url']).scheme}://{urlsplit(c['url']).netloc}" for c in clusters})
    return sync_context(graph=graph, source="k8s-test", options={"clusters": clusters}, run_id=run_id,
                       secret=lambda name: f"secret-{name}",
                       integrations=parse_integrations({"integrations": {"allow": allowed}}))


def test_sync_loads_workloads_and_isolates_a_failing_cluster(graph, catalog, monkeypatch):
    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: None)
    with RecordedServer() as good, RecordedServer() as bad:
        _serve_cluster(good)
        bad.json("/apis/apps/v1/deployments", {"kind": "Status", "status": "Failure", "reason": "Unauthorized",
                                               "code": 401}, status=401)
        result = KubernetesProvider().sync(_ctx(graph, "run1", [
            {"name": "prod", "url": good.url, "token_secret_name": "k8s-prod"},
            {"name": "edge", "url": bad.url, "token_secret_name": "k8s-edge"},
        ]))
        assert good.requests[0]["headers"]["authorization"] == "Bearer secret-k8s-prod"
        assert good.requests[0]["query"]["limit"] == "500"
        assert good.hits("/apis/apps/v1/deployments") == 2                 # followed `continue`
    assert [r["file"] for r in result.rejected] == ["cluster:edge"]
    assert "bad credentials" in result.rejected[0]["reason"]
    checkout = graph_k8s.workloads_for(graph, "component:default/checkout")
    assert [(w["kind"], w["name"], w["namespace"]) for w in checkout] == [
        ("Deployment", "checkout-web", "shop"), ("Service", "checkout", "shop")]
    assert checkout[0]["replicas"] == 3 and checkout[0]["ready"] == 2 and checkout[0]["cluster"] == "prod"
    payments = graph_k8s.workloads_for(graph, "component:default/payments")
    assert [w["name"] for w in payments] == ["payments-api", "payments-worker"]
    rows = graph.read("MATCH (w:KubernetesWorkload)-[:IN_NAMESPACE]->(n:KubernetesNamespace) "
                      "RETURN n.name AS ns, count(w) AS n ORDER BY ns")
    assert [(r["ns"], r["n"]) for r in rows] == [("default", 1), ("payments", 2), ("shop", 2)]
    assert graph.read("MATCH (n:KubernetesNamespace) RETURN count(n) AS n")[0]["n"] == 3
    # runtime facts, not entity properties
    assert graph.read("MATCH (c:Component {ref: 'component:default/checkout'}) RETURN keys(c) AS k")[0]["k"] \
        and not any("replica" in k for k in graph.read("MATCH (c:Component) UNWIND keys(c) AS k RETURN k")[0])


def test_cleanup_per_cluster(graph, catalog, monkeypatch):
    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: None)
    with RecordedServer() as one, RecordedServer() as two:
        _serve_cluster(one)
        _serve_cluster(two)
        clusters = [{"name": "one", "url": one.url}, {"name": "two", "url": two.url}]
        KubernetesProvider().sync(_ctx(graph, "run1", clusters))
    assert len(graph_k8s.workloads_for(graph, "component:default/payments")) == 4
    with RecordedServer() as one, RecordedServer() as two:
        _serve_cluster(one, drop_worker=True)          # the worker deployment is gone from cluster one
        two.json("/apis/apps/v1/deployments", {"message": "etcd timeout"}, status=503)   # two is down
        result = KubernetesProvider().sync(_ctx(graph, "run2", [{"name": "one", "url": one.url},
                                                                {"name": "two", "url": two.url}]))
    assert result.removed == 1 and [r["file"] for r in result.rejected] == ["cluster:two"]
    assert result.created == 0 and result.seen_again == 7    # 2 deployments + 2 services + 3 namespaces seen again
    names = [(w["cluster"], w["name"]) for w in graph_k8s.workloads_for(graph, "component:default/payments")]
    assert names == [("one", "payments-api"), ("two", "payments-api"), ("two", "payments-worker")]


def test_every_cluster_failing_fails_the_run(graph, catalog, monkeypatch):
    from graph import sources

    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: None)
    with RecordedServer() as down:
        down.json("/apis/apps/v1/deployments", {}, status=500)
        with pytest.raises(Exception, match="500"):
            KubernetesProvider().sync(_ctx(graph, "run1", [{"name": "x", "url": down.url}]))
    assert sources.get_run(graph, "run1")["status"] == "failed"


def test_kubernetes_plugin_is_registered():
    from plugins.registry import load_registry

    assert "kubernetes" in {p.name for p in load_registry().providers()}
