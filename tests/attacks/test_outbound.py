"""Outbound policy attacks: what the server can be made to contact, read or send with its own credentials.

The attacker is anyone who registers a location (an editor, or a guest editor in development mode) or
writes a repository's `catalog-info.yaml`; the operator configured one integration, a local git host.
"""
from __future__ import annotations

import json
import os
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from servers.base import free_port
from tests.support.git_http import GitHttpServer, make_repo

EVIL_GROUP = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: admins}
spec: {type: team, children: [], members: [mallory]}
"""


def component(name: str, techdocs_ref: str | None = None) -> str:
    annotations = f"\n  annotations: {{backstage.io/techdocs-ref: '{techdocs_ref}'}}" if techdocs_ref else ""
    return textwrap.dedent(f"""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: {name}""") + annotations + "\nspec: {type: service, lifecycle: production, owner: team-a}\n"


class Listener:
    """Something listening on a loopback port the operator never configured; remembers every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def githost(tmp_path_factory):
    """The operator's git host with an org repository, mallory's repository and a big one."""
    root = tmp_path_factory.mktemp("githost")
    work = tmp_path_factory.mktemp("githost-work")
    make_repo(work / "people", {"catalog-info.yaml": component("people-directory")}, root / "org" / "people.git")
    make_repo(work / "evil", {"catalog-info.yaml": EVIL_GROUP}, root / "mallory" / "evil.git")
    make_repo(work / "big", {"catalog-info.yaml": component("big"), "blob.bin": os.urandom(3 * 1024 * 1024)},
              root / "big.git")
    with GitHttpServer(root) as server:
        yield server


def write_config(tmp_path: Path, githost: GitHttpServer, **extra) -> Path:
    """TRELLIS_CONFIG naming the git host as the only integration (plain HTTP, said explicitly)."""
    data = {"env": "development", "guest_role": "editor", "integrations": {"allow": [githost.url]}, **extra}
    path = tmp_path / "trellis.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def portal(neo4j_uri: str, config: Path):
    """A portal where visitors are (guest) editors: they may register locations."""
    from app import create_app
    from tests.conftest import neo4j_auth
    from tests.portal_helpers import with_csrf

    auth = neo4j_auth()
    settings = {"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_CONFIG": str(config), "SECRET_KEY": "s" * 32}
    if auth:
        settings.update(NEO4J_USER=auth[0], NEO4J_PASSWORD=auth[1])
    return with_csrf(create_app(settings).test_client())


def stored_refs(graph) -> set[str]:
    return {r["ref"] for r in graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")}


def git_cache_entries() -> list[str]:
    """What the git cache holds (shared by the session's tests: compare before and after)."""
    from ingest.cache import cache_root

    folder = cache_root() / "git"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ------------------------------------------------------------------------------------------ SSRF / port scan

def test_a_registered_url_on_a_loopback_port_is_refused_the_same_whether_the_port_is_open_or_closed(
        graph, tmp_path, neo4j_uri, githost):
    client = portal(neo4j_uri, write_config(tmp_path, githost))
    listener = Listener()
    closed = free_port()
    try:
        answers = {}
        for name, port in (("open", listener.port), ("closed", closed)):
            target = f"http://127.0.0.1:{port}/acme/payments.git"
            response = client.post("/api/v1/locations", json={"target": target})
            answers[name] = (response.status_code,
                             json.dumps(response.get_json(), sort_keys=True).replace(str(port), "PORT"))
        assert listener.requests == [], f"the portal connected to a port nobody configured: {listener.requests}"
        assert answers["open"] == answers["closed"], answers
        status, body = answers["open"]
        assert status == 400 and "integration" in body, body
        # other transports to the same port: refused too, without contact
        for target in (f"ssh://git@127.0.0.1:{listener.port}/acme/payments.git",
                       "git@127.0.0.1:acme/payments.git",
                       f"git://127.0.0.1:{listener.port}/acme/payments.git",
                       f"https://127.0.0.1:{listener.port}/acme/payments.git"):
            response = client.post("/api/v1/locations", json={"target": target})
            assert response.status_code == 400, (target, response.get_json())
        assert listener.requests == []
    finally:
        listener.close()


# ------------------------------------------------------------------------------------------ TechDocs url: refs

@pytest.mark.parametrize("form", ["file-url", "bare-path"])
def test_techdocs_refs_to_server_local_repositories_are_refused(graph, tmp_path, form):
    """A repository's techdocs-ref may not make the server publish a repository on its own disk."""
    from docs_builder.build import build_entity_docs
    from docs_builder.storage import LocalStorage
    from ingest.sync import ingest

    secret = make_repo(tmp_path / "secret-work", {"mkdocs.yml": "site_name: Secret\n",
                                                  "docs/index.md": "# Payroll\n\nsalaries-of-everyone\n"},
                       tmp_path / "srv" / "payroll.git")
    ref_target = f"file://{secret}" if form == "file-url" else str(secret)
    repo = tmp_path / "innocent"
    repo.mkdir()
    (repo / "catalog-info.yaml").write_text(component("innocent", f"url:{ref_target}"))
    assert ingest(graph, str(repo)).added == 1
    before = git_cache_entries()
    storage = LocalStorage(tmp_path / "sites")
    outcome = build_entity_docs(graph, "component:default/innocent", storage)
    published = "".join(p.read_text(errors="replace") for p in (tmp_path / "sites").rglob("*") if p.is_file())
    assert "salaries-of-everyone" not in published, "a server-local repository was published as docs"
    assert outcome.status == "failed" and "integration" in (outcome.error or ""), outcome
    assert git_cache_entries() == before


def test_techdocs_refs_to_local_repositories_build_only_under_configured_roots(graph, tmp_path):
    """The operator's own roots stay usable (e.g. mirrors on the server); anything beside them does not."""
    from docs_builder.build import build_entity_docs
    from docs_builder.storage import LocalStorage
    from ingest.sync import ingest

    docs = {"mkdocs.yml": "site_name: Mirror\n", "docs/index.md": "# Mirror\n\nmirrored-docs\n"}
    inside = make_repo(tmp_path / "w1", docs, tmp_path / "mirrors" / "handbook.git")
    outside = make_repo(tmp_path / "w2", docs, tmp_path / "elsewhere" / "handbook.git")
    repo = tmp_path / "catalog"
    repo.mkdir()
    (repo / "catalog-info.yaml").write_text(
        component("mirrored", f"url:file://{inside}") + "---\n"
        + component("sneaky", f"url:file://{tmp_path}/mirrors/../elsewhere/handbook.git"))
    assert ingest(graph, str(repo)).added == 2
    storage = LocalStorage(tmp_path / "sites")
    roots = [tmp_path / "mirrors"]
    assert build_entity_docs(graph, "component:default/mirrored", storage, local_roots=roots).status == "succeeded"
    sneaky = build_entity_docs(graph, "component:default/sneaky", storage, local_roots=roots)
    assert sneaky.status == "failed" and "integration" in (sneaky.error or ""), sneaky
    assert outside.is_dir()


# ------------------------------------------------------------------------------------------ catalog rules

@pytest.mark.parametrize("segment", ["org/../mallory/evil.git", "org/./../mallory/evil.git"])
def test_dot_segments_do_not_borrow_the_catalog_rules_of_another_target(graph, tmp_path, neo4j_uri, githost,
                                                                        segment):
    """Groups may come from the org's repositories only; `org/../mallory/...` is mallory's repository."""
    rules = [{"allow": ["Component", "Location"]},
             {"allow": ["Component", "Location", "Group", "User"], "target": f"{githost.url}/org/*"}]
    client = portal(neo4j_uri, write_config(tmp_path, githost, catalog_rules=rules))
    response = client.post("/api/v1/locations", json={"target": f"{githost.url}/{segment}"})
    assert "group:default/admins" not in stored_refs(graph), "mallory registered a Group the rules restrict"
    assert response.status_code == 201, response.get_json()
    rejected = response.get_json()["rejected"]
    assert [r["field"] for r in rejected] == ["kind"], rejected


# ------------------------------------------------------------------------------------------ clone caps

def test_an_oversized_clone_is_refused_and_leaves_nothing_on_disk(graph, tmp_path, githost, monkeypatch):
    from ingest.sync import ingest

    monkeypatch.setenv("TRELLIS_CONFIG", str(write_config(tmp_path, githost, git={"max_clone_mb": 1})))
    before = git_cache_entries()
    error = None
    try:
        ingest(graph, f"{githost.url}/big.git")
    except RuntimeError as exc:
        error = exc
    assert "component:default/big" not in stored_refs(graph), "a 3 MB repository was cloned past a 1 MB cap"
    assert git_cache_entries() == before, "the refused clone left files behind"
    assert "larger than" in str(error), error


# ------------------------------------------------------------------------------------------ credentials

def test_the_server_token_is_not_sent_to_another_host_after_a_redirect(graph, tmp_path, monkeypatch):
    """The configured GitLab answers with a redirect to another host: the token must stay home."""
    from plugins.builtin.gitlab.provider import GitLabProvider
    from ingest.sync import new_run_id
    from ingest.context import sync_context

    token = "glpat-server-token-0123456789"
    elsewhere = HeaderRecorder()
    home = Redirector(f"http://localhost:{elsewhere.port}")
    config = tmp_path / "trellis.yaml"
    config.write_text(yaml.safe_dump({"integrations": {"gitlab": [{
        "host": f"127.0.0.1:{home.port}", "apiBaseUrl": f"http://127.0.0.1:{home.port}/api/v4"}]}}))
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    ctx = sync_context(graph=graph, source="gitlab-acme", run_id=new_run_id(), secret=lambda name: token,
                      options={"group": "acme", "api_url": f"http://127.0.0.1:{home.port}/api/v4"})
    error = None
    try:
        GitLabProvider().sync(ctx, max_retries=0)
    except Exception as exc:
        error = exc
    finally:
        home.close()
        elsewhere.close()
    leaked = [h for h in elsewhere.headers if token in json.dumps(h)]
    assert not leaked, f"the server's GitLab token reached another host: {leaked}"
    assert elsewhere.headers == [], "the client followed a redirect to a host that is not the integration"
    assert "redirect" in str(error), error


class HeaderRecorder(Listener):
    """Answers `{}` to everything and keeps each request's headers."""

    def __init__(self) -> None:
        self.headers: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"[]")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Redirector(Listener):
    """Redirects every request to the same path on `target`."""

    def __init__(self, target: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# ------------------------------------------------------------------------------------------ the ingest lock

def test_a_clone_happens_before_the_catalogs_ingest_lock_is_taken(graph, tmp_path, githost, monkeypatch):
    """A slow (or hostile, slowly answering) git host must not stall every other run of the catalog: the
    clone is done while another run holds the catalog's ingest lock."""
    import time

    from ingest.cache import ingest_lock
    from ingest.sync import ingest

    monkeypatch.setenv("TRELLIS_CONFIG", str(write_config(tmp_path, githost)))
    before = set(git_cache_entries())
    done: dict = {}
    with ingest_lock(graph.settings.uri, graph.database):   # another run is writing the catalog
        worker = threading.Thread(target=lambda: done.update(result=ingest(graph, f"{githost.url}/org/people.git")))
        worker.start()
        deadline = time.monotonic() + 60
        while not (set(git_cache_entries()) - before) and time.monotonic() < deadline:
            time.sleep(0.2)
        cloned_while_locked = bool(set(git_cache_entries()) - before)
        assert "result" not in done, "the run did not wait for the catalog's lock"
    worker.join(120)
    assert cloned_while_locked, "the clone waited for the catalog's ingest lock"
    assert "component:default/people-directory" in stored_refs(graph)


# ------------------------------------------------------------------------------------------ provider clients

def test_a_kubernetes_cluster_off_the_integrations_never_receives_the_clusters_token(graph):
    """A source's cluster URL pointing elsewhere (a typo, or an edited config) gets nothing, the token least."""
    from ingest.sync import new_run_id
    from ingest.context import sync_context
    from plugins.builtin.kubernetes import KubernetesProvider

    listener = Listener()
    error = None
    try:
        ctx = sync_context(graph=graph, source="k8s", run_id=new_run_id(), secret=lambda name: "k8s-token",
                          options={"clusters": [{"name": "prod", "url": f"http://127.0.0.1:{listener.port}",
                                                 "token_secret_name": "k8s-prod"}]})
        KubernetesProvider().sync(ctx)
    except Exception as exc:
        error = exc
    finally:
        listener.close()
    assert listener.requests == [], "the provider contacted a host that is not an integration"
    assert "integration" in str(error), error
