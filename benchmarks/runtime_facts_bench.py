"""Runtime-fact providers benchmark: CI builds (GitHub Actions) and Kubernetes workloads at catalog scale.

    .venv/bin/python -m benchmarks.runtime_facts_bench [--components 1000] [--builds 20] [--workloads 3000]

A catalog of N components (each annotated with `github.com/project-slug` and `backstage.io/kubernetes-id`)
is ingested; a local HTTP server process serves, per repository, `--builds` workflow runs in GitHub's
documented shape (with ETags and 304s), and a cluster of `--workloads` deployments plus as many services (paged by `continue`,
500 per page). Measures the first sync of each provider (empty graph of facts) and a re-sync when nothing
changed. Starts its own throwaway Neo4j unless NEO4J_URI is set (that database is then WIPED). Prints the
figures and writes them to benchmarks/out/runtime_facts.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

OUT = Path(__file__).resolve().parent / "out"


def _runs(repo: int, count: int) -> list[dict]:
    base = 1_790_000_000 + repo
    out = []
    for k in range(count):
        start = base - k * 3600
        out.append({"id": repo * 1000 + k, "name": "Build", "head_branch": "main", "head_sha": f"{repo:020d}{k:020d}",
                    "run_number": count - k, "status": "completed",
                    "conclusion": "failure" if (repo + k) % 7 == 0 else "success",
                    "html_url": f"https://github.com/bench/repo-{repo}/actions/runs/{repo * 1000 + k}",
                    "run_started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                    "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 240))})
    return out


def _workload(i: int, kind: str) -> dict:
    meta = {"name": f"svc-{i}", "namespace": f"ns-{i % 20}", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": f"svc-{i}", "backstage.io/kubernetes-id": f"component-{i}"}}
    if kind == "Deployment":
        return {"metadata": meta, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": f"svc-{i}"}},
                "template": {"spec": {"containers": [{"name": "app", "image": f"registry/svc-{i}:1"}]}}},
                "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2}}
    return {"metadata": meta, "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1", "selector": {"app": f"svc-{i}"},
                                       "ports": [{"port": 80, "protocol": "TCP"}]}}


def _serve(port_out, builds: int, workloads: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:   # noqa: N802
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            path = parts.path
            if path.startswith("/repos/bench/repo-") and path.endswith("/actions/runs"):
                repo = int(path.split("/")[3].removeprefix("repo-"))
                body = {"total_count": builds, "workflow_runs": _runs(repo, min(builds, int(query.get("per_page", 30))))}
            elif path in ("/apis/apps/v1/deployments", "/api/v1/services"):
                kind = "Deployment" if "deployments" in path else "Service"
                start = int(query.get("continue") or 0)
                limit = int(query.get("limit", 500))
                end = min(start + limit, workloads)
                body = {"kind": f"{kind}List", "metadata": {"continue": str(end) if end < workloads else ""},
                        "items": [_workload(i, kind) for i in range(start, end)]}
            elif path == "/api/v1/namespaces":
                body = {"kind": "NamespaceList", "metadata": {},
                        "items": [{"metadata": {"name": f"ns-{i}"}, "status": {"phase": "Active"}} for i in range(20)]}
            else:
                body = {"message": "Not Found"}
            raw = json.dumps(body).encode()
            etag = '"' + hashlib.sha1(raw).hexdigest() + '"'
            if path.startswith("/repos/") and self.headers.get("If-None-Match") == etag:
                self.send_response(304)     # GitHub answers conditional requests like this
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200 if "message" not in body else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if path.startswith("/repos/"):
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


def _catalog(root: Path, components: int) -> None:
    docs = []
    for i in range(components):
        docs.append(f"""apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: component-{i}
  annotations:
    github.com/project-slug: bench/repo-{i}
    backstage.io/kubernetes-id: component-{i}
spec: {{type: service, lifecycle: production, owner: team-{i % 25}}}
""")
    (root / "catalog-info.yaml").write_text("---\n".join(docs))


def run(graph, url: str, args) -> dict:
    from urllib.parse import urlsplit

    from ingest.context import sync_context
    from ingest.integrations import parse_integrations
    from ingest.sync import ingest
    from plugins.builtin.ci import GitHubActionsProvider
    from plugins.builtin.kubernetes import KubernetesProvider

    # The local server is the only host these sources may reach (the outbound policy, as in production):
    # a github integration for the CI source, a plain allowed host for the cluster.
    parts = urlsplit(url)
    allowed = {"ci": parse_integrations({"integrations": {"github": [{"host": parts.netloc,
                                                                      "apiBaseUrl": url.rstrip("/")}]}}),
               "kubernetes": parse_integrations({"integrations": {"allow": [f"{parts.scheme}://{parts.netloc}"]}})}
    root = Path(tempfile.mkdtemp(prefix="trellis-bench-rt-"))
    try:
        _catalog(root, args.components)
        ingest(graph, str(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures: dict = {"components": args.components, "builds_per_component": args.builds,
                     "workloads": args.workloads * 2}
    for label, provider, options in (
        ("ci", GitHubActionsProvider(), {"api_url": url, "keep": args.builds}),
        ("kubernetes", KubernetesProvider(), {"clusters": [{"name": "bench", "url": url}]}),
    ):
        for phase in ("first_sync", "resync_unchanged"):
            ctx = sync_context(graph=graph, source=f"bench-{label}", options=options, run_id=f"{label}-{phase}",
                               secret=lambda name: "bench-token", integrations=allowed[label])
            started = time.perf_counter()
            result = provider.sync(ctx)
            figures[f"{label}_{phase}_s"] = round(time.perf_counter() - started, 2)
            figures[f"{label}_{phase}_counts"] = {"added": result.created, "unchanged": result.seen_again,
                                                  "removed": result.removed, "problems": len(result.rejected)}
    figures["builds_stored"] = graph.read("MATCH (b:Build) RETURN count(b) AS n")[0]["n"]
    figures["workloads_linked"] = graph.read("MATCH ()-[r:DEPLOYED_AS]->() RETURN count(r) AS n")[0]["n"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--builds", type=int, default=20)
    parser.add_argument("--workloads", type=int, default=3000)
    args = parser.parse_args()

    from graph.driver import Settings, connect

    cache = tempfile.mkdtemp(prefix="trellis-bench-cache-")
    os.environ["TRELLIS_CACHE"] = cache          # the ETag cache starts empty and is thrown away
    ctx = multiprocessing.get_context("spawn")
    port_out = ctx.Queue()
    api = ctx.Process(target=_serve, args=(port_out, args.builds, args.workloads), daemon=True)
    api.start()
    url = f"http://127.0.0.1:{port_out.get(timeout=30)}"
    server_home = None
    try:
        if not os.environ.get("NEO4J_URI"):
            from graph.server import start
            from servers.base import free_port

            server_home = Path(tempfile.mkdtemp(prefix="trellis-bench-neo4j-"))
            uri = start(server_home, bolt_port=free_port(), http_port=free_port(), heap="2g", pagecache="512m").uri
        else:
            uri = os.environ["NEO4J_URI"]
        with connect(Settings(uri=uri, user=os.environ.get("NEO4J_USER"),
                              password=os.environ.get("NEO4J_PASSWORD"))) as graph:
            graph.write("MATCH (n) DETACH DELETE n")
            figures = run(graph, url, args)
    finally:
        api.terminate()
        shutil.rmtree(cache, ignore_errors=True)
        if server_home:
            from servers.neo4j import stop

            stop(server_home)
            shutil.rmtree(server_home, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "runtime_facts.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
