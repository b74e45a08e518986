"""GitHub provider benchmark: a synthetic organisation of 2,000 repositories served over HTTP (with ETags).

    .venv/bin/python -m benchmarks.github_bench [--repos 2000] [--teams 40] [--users 300] [--concurrency 8]

Measures a full sync (empty ETag cache, empty graph), a re-sync when nothing changed (conditional requests:
304s), and a push-webhook refresh of one repository (synchronous fallback: only that repository is asked
again). The API server runs in its own process (so it does not share the benchmark's GIL) and counts the
requests it answered by status. Starts its own throwaway Neo4j unless NEO4J_URI is set (that database is
then WIPED). Prints the figures and writes them to benchmarks/out/github.json.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

OUT = Path(__file__).resolve().parent / "out"
ORG = "synthetic"
TOKEN = "ghp_benchmark_token"


# ------------------------------------------------------------------------------------------ the synthetic org

class SyntheticOrg:
    """Deterministic organisation: every 10th repository has no descriptor, every 50th is archived."""

    def __init__(self, repos: int, teams: int, users: int, revision: dict[int, int] | None = None):
        self.repos, self.teams, self.users = repos, teams, users
        self.revision = revision or {}

    def repo(self, i: int) -> dict:
        name = f"svc-{i:04d}"
        return {"id": 10_000 + i, "node_id": f"R_{i}", "name": name, "full_name": f"{ORG}/{name}",
                "private": True, "owner": {"login": ORG, "type": "Organization"},
                "html_url": f"https://github.com/{ORG}/{name}", "fork": False, "default_branch": "main",
                "archived": i % 50 == 49, "disabled": False, "visibility": "private", "size": 100,
                "pushed_at": "2026-11-01T00:00:00Z"}

    def has_descriptor(self, i: int) -> bool:
        return i % 10 != 9

    def descriptor(self, i: int) -> str:
        """A Component (owned by a team, depending on its predecessor), plus an API for every 4th one."""
        name = f"svc-{i:04d}"
        owner = f"team-{i % self.teams:02d}"
        lines = [
            "apiVersion: backstage.io/v1alpha1", "kind: Component", "metadata:", f"  name: {name}",
            f"  description: Synthetic service {i} (revision {self.revision.get(i, 0)})",
            f"  tags: [synthetic, tier-{i % 3}]", "spec:", "  type: service", "  lifecycle: production",
            f"  owner: {owner}",
        ]
        if i and i % 3:
            lines.append(f"  dependsOn: [component:svc-{i - 1:04d}]")
        if i % 4 == 0:
            lines += [f"  providesApis: [{name}-api]", "---", "apiVersion: backstage.io/v1alpha1", "kind: API",
                      f"metadata: {{name: {name}-api}}",
                      f'spec: {{type: openapi, lifecycle: production, owner: {owner}, definition: "openapi: 3.0.0"}}']
        return "\n".join(lines) + "\n"

    def team(self, k: int) -> dict:
        slug = f"team-{k:02d}"
        parent = None if k < 4 else {"id": k % 4, "slug": f"team-{k % 4:02d}", "name": f"Team {k % 4}"}
        return {"id": k, "slug": slug, "name": f"Team {k}", "description": f"Synthetic team {k}",
                "privacy": "closed", "html_url": f"https://github.com/orgs/{ORG}/teams/{slug}", "parent": parent}

    def members(self, k: int) -> list[dict]:
        return [{"login": f"user-{(k * 7 + j) % self.users:03d}", "id": (k * 7 + j) % self.users, "type": "User"}
                for j in range(10)]

    def answer(self, path: str, query: dict) -> object | None:
        """The JSON body for a GET, or None for a 404."""
        parts = path.strip("/").split("/")
        if parts == ["orgs", ORG, "repos"]:
            return [self.repo(i) for i in range(self.repos)]
        if parts == ["orgs", ORG, "teams"]:
            return [self.team(k) for k in range(self.teams)]
        if len(parts) == 5 and parts[:3] == ["orgs", ORG, "teams"] and parts[4] == "members":
            return self.members(int(parts[3].split("-")[1]))
        if len(parts) == 2 and parts[0] == "users":
            n = int(parts[1].split("-")[1])
            return {"login": parts[1], "id": n, "name": f"User {n}", "email": f"{parts[1]}@synthetic.example",
                    "type": "User"}
        if len(parts) == 5 and parts[0] == "repos" and parts[3] == "contents" and parts[4] == "catalog-info.yaml":
            i = int(parts[2].split("-")[1])
            if not self.has_descriptor(i):
                return None
            data = self.descriptor(i).encode()
            return {"type": "file", "encoding": "base64", "size": len(data), "name": "catalog-info.yaml",
                    "path": "catalog-info.yaml", "content": base64.b64encode(data).decode(),
                    "sha": hashlib.sha1(data).hexdigest()}
        return None


def serve(port_out, repos: int, teams: int, users: int) -> None:
    """The API server process: GitHub-style pagination, ETags and 304s, counts answers by status."""
    org = SyntheticOrg(repos, teams, users)
    counts: dict[str, int] = {}
    cache: dict[str, tuple[bytes, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/__stats":
                return self._send(200, {}, json.dumps(counts).encode())
            if url.path == "/__touch":   # a push: the repository's descriptor changes
                i = int(query["repo"])
                org.revision[i] = org.revision.get(i, 0) + 1
                cache.clear()
                return self._send(200, {}, b"{}")
            if url.path == "/__reset":
                counts.clear()
                return self._send(200, {}, b"{}")
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._count(401, {}, b'{"message": "Bad credentials"}')
            key = url.path + "?" + url.query
            if key not in cache:
                body = org.answer(url.path, query)
                if body is None:
                    return self._count(404, {}, b'{"message": "Not Found"}')
                headers = {}
                if isinstance(body, list):
                    per_page = min(int(query.get("per_page", 30)), 100)
                    page = int(query.get("page", 1))
                    last = max(1, -(-len(body) // per_page))
                    body = body[(page - 1) * per_page: page * per_page]
                    if page < last:
                        nxt = urlencode({**query, "page": page + 1})
                        headers["Link"] = f'<http://{self.headers["Host"]}{url.path}?{nxt}>; rel="next"'
                data = json.dumps(body).encode()
                cache[key] = (data, json.dumps(headers))
            data, headers_json = cache[key]
            headers = json.loads(headers_json)
            etag = f'W/"{hashlib.sha1(data).hexdigest()}"'
            headers["ETag"] = etag
            if self.headers.get("If-None-Match") == etag:
                return self._count(304, headers, b"")
            return self._count(200, headers, data)

        def _count(self, status: int, headers: dict, body: bytes) -> None:
            counts[str(status)] = counts.get(str(status), 0) + 1
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


# ------------------------------------------------------------------------------------------ the benchmark

def _get(url: str) -> dict:
    import requests

    return requests.get(url, timeout=10).json()


def one_sync(graph, api_url: str, concurrency: int, *, refresh: list[str] | None = None) -> dict:
    """One provider run through the same path as the plugin (get, then load), timed per stage."""
    from ingest.context import sync_context
    from ingest.sync import new_run_id
    from plugins.api import token_fingerprint
    from plugins.builtin.github import get, transform

    _get(api_url + "/__reset")
    options = {"org": ORG, "api_url": api_url, "concurrency": concurrency}
    if refresh:
        options["refresh_repos"] = refresh
    ctx = sync_context(graph=graph, source="github-bench", options=options, run_id=new_run_id(),
                      secret=lambda name: TOKEN, force=True)
    parsed = transform.GitHubOptions.parse(options)
    t0 = time.perf_counter()
    cache = ctx.etag_cache(f"github\n{parsed.api_url}\n{token_fingerprint(TOKEN)}")
    client = get.client_for(parsed, TOKEN, cache)
    fetched = get.fetch(client, parsed, ctx.read_descriptor_file, ctx.read_repository,
                        refresh=set(refresh) if refresh else None)
    client.close()
    t1 = time.perf_counter()
    result = ctx.ingest_fetched(f"github:{ORG}", fetched)
    t2 = time.perf_counter()
    return {
        "total_s": round(t2 - t0, 2), "get_s": round(t1 - t0, 2), "load_s": round(t2 - t1, 2),
        "requests": fetched.stats.requests, "not_modified_304": fetched.stats.not_modified,
        "not_found_404": fetched.stats.not_found, "server_counts": _get(api_url + "/__stats"),
        "repos": fetched.repos, "descriptors": fetched.descriptors, "entities": len(fetched.entities),
        "added": result.added, "updated": result.updated, "unchanged": result.unchanged,
        "removed": result.removed, "rejected": len(result.rejected),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=40)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    from graph.driver import Settings, connect

    server_home = None
    if not os.environ.get("NEO4J_URI"):
        from graph.server import start
        from servers.base import free_port

        server_home = Path(tempfile.mkdtemp(prefix="trellis-bench-neo4j-"))
        uri = start(server_home, bolt_port=free_port(), http_port=free_port(), heap="2g", pagecache="512m").uri
    else:
        uri = os.environ["NEO4J_URI"]
    workdir = Path(tempfile.mkdtemp(prefix="trellis-github-bench-"))
    os.environ["TRELLIS_CACHE"] = str(workdir / "cache")
    ports: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=serve, args=(ports, args.repos, args.teams, args.users), daemon=True)
    proc.start()
    api_url = f"http://127.0.0.1:{ports.get(timeout=30)}"
    results: dict = {"repos": args.repos, "teams": args.teams, "users": args.users, "concurrency": args.concurrency}
    try:
        with connect(Settings(uri=uri, user=os.environ.get("NEO4J_USER"),
                              password=os.environ.get("NEO4J_PASSWORD"))) as graph:
            while graph.write("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n").counters.nodes_deleted:
                pass
            results["full_sync"] = one_sync(graph, api_url, args.concurrency)
            print("full sync     ", json.dumps(results["full_sync"]), flush=True)
            results["resync_unchanged"] = one_sync(graph, api_url, args.concurrency)
            print("re-sync (304s)", json.dumps(results["resync_unchanged"]), flush=True)
            _get(api_url + "/__touch?repo=42")
            results["webhook_one_repo"] = one_sync(graph, api_url, args.concurrency, refresh=["svc-0042"])
            print("webhook push  ", json.dumps(results["webhook_one_repo"]), flush=True)
            _get(api_url + "/__touch?repo=43")
            results["resync_one_changed"] = one_sync(graph, api_url, args.concurrency)
            print("re-sync 1 chg ", json.dumps(results["resync_one_changed"]), flush=True)
    finally:
        proc.terminate()
        proc.join(10)
        shutil.rmtree(workdir, ignore_errors=True)
        if server_home:
            from servers.neo4j import stop

            stop(server_home)
            shutil.rmtree(server_home, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "github.json").write_text(json.dumps(results, indent=2))
    print(f"\n{'run':<22}{'total_s':>9}{'get_s':>8}{'load_s':>8}{'requests':>10}{'304':>7}{'404':>6}"
          f"{'added':>7}{'updated':>8}{'unchanged':>10}")
    for name in ("full_sync", "resync_unchanged", "webhook_one_repo", "resync_one_changed"):
        r = results[name]
        print(f"{name:<22}{r['total_s']:>9}{r['get_s']:>8}{r['load_s']:>8}{r['requests']:>10}"
              f"{r['not_modified_304']:>7}{r['not_found_404']:>6}{r['added']:>7}{r['updated']:>8}{r['unchanged']:>10}")


if __name__ == "__main__":
    main()
