"""The release as an operator deploys it: the wheel, built from a clean copy of the sources, installed into a
fresh virtualenv outside the repository, running `trellis serve`, a worker and the docs builder from a
scratch directory against the test Neo4j and Redis (what the Dockerfile's runtime stage does).

Nothing of the checkout is on the installed processes' `sys.path` (checked). The wheel is installed with
`--no-deps`; its dependencies come from the test virtualenv's site-packages through a `.pth` line (which does
not run that virtualenv's editable-install hooks), so the test needs no network. Set
`TRELLIS_PACKAGING_FULL_INSTALL=1` to let pip resolve and install the dependencies into the fresh virtualenv
too (network or a warm pip cache).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from servers.base import free_port

REPO = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
METRICS_TOKEN = "packaging-metrics-token"
DOCS_REF = "component:default/packaged-docs"

pytestmark = [pytest.mark.timeout(900)]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **{"timeout": 600, **kwargs})
    assert result.returncode == 0, f"{cmd}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from the files a fresh clone has (tracked, or new and not ignored): no .venv, no
    node_modules, no vendor files built here before; the build makes the vendor files from package-lock.json."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    for name in filter(None, files.split("\0")):
        path = REPO / name
        if path.is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    assert not (src / "node_modules").exists() and not (src / "app" / "static" / "vendor").exists()
    # the test virtualenv's setuptools when it has one (no network); else pip's isolated build environment
    from importlib.util import find_spec

    isolation = ["--no-build-isolation"] if find_spec("setuptools") and find_spec("wheel") else []
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
         "--disable-pip-version-check", "-w", str(work / "dist"), str(src)], cwd=work)
    (built,) = (work / "dist").glob("trellis-*.whl")
    return built


def test_the_wheel_carries_everything_the_portal_serves(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("app/templates/base.html", "app/templates/error.html", "app/templates/entity/graph.html",
                     "app/static/css/trellis.css", "app/static/js/graph.js", "app/static/vendor/cytoscape.min.js",
                     "app/static/vendor/cytoscape.LICENSE.txt", "servers/files/neo4j.pom.xml",
                     "servers/files/opensearch.pom.xml", "servers/files/TrellisOpenSearch.java",
                     "servers/files/keycloak.pom.xml", "ingest/descriptors/schemas/component.json"):
        assert required in names, required
    tracked = run(["git", "ls-files", "app/templates", "app/static", "ingest/descriptors/schemas"], cwd=REPO)
    served = set(tracked.stdout.split())
    assert len(served) > 40 and served <= names, served - names
    assert not [n for n in names if n.startswith(("node_modules/", "tests/", ".trellis/"))]
    assert f"trellis-{VERSION}.dist-info/METADATA" in names


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv outside the repository with the wheel installed."""
    venv = tmp_path_factory.mktemp("venv")
    if os.environ.get("TRELLIS_PACKAGING_FULL_INSTALL") == "1":
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)])
        return venv
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps",
         "--disable-pip-version-check", str(wheel)])
    purelib = run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    deps = run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(purelib.stdout.strip(), "trellis-test-deps.pth").write_text(deps.stdout.strip() + "\n")
    return venv


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NEO4J_", "TRELLIS_", "PYTHON", "VIRTUAL_ENV", "PROMETHEUS_"))}
    env.update(extra)
    return env


def test_installed_cli_runs_from_the_wheel_not_the_checkout(venv, tmp_path):
    env = clean_env()
    version = run([str(venv / "bin" / "trellis"), "--version"], cwd=tmp_path, env=env)
    assert version.stdout.strip() == f"trellis, version {VERSION}"
    where = run([str(venv / "bin" / "python"), "-c", "import sys, app, graph, ingest, plugins, docs_builder; "
                 "print(repr([m.__file__ for m in (app, graph, ingest, plugins, docs_builder)])); print(repr(sys.path))"],
                cwd=tmp_path, env=env).stdout.splitlines()
    for module_file in eval(where[0]):   # noqa: S307 - our own repr
        assert module_file.startswith(str(venv)), module_file
    assert not [p for p in eval(where[1]) if p.rstrip("/") == str(REPO)]   # noqa: S307


def test_the_installed_local_servers_find_their_pinned_files_and_keep_state_outside_site_packages(venv, tmp_path):
    """servers/ from the wheel: the poms and OpenSearch's launcher it provisions from are there, and its state
    folder is the operator's, not site-packages (as the installed `trellis neo4j start` needs)."""
    code = ("import json, servers, servers.neo4j as n, servers.opensearch as o, servers.keycloak as k; "
            "from servers import paths as p; "
            "print(json.dumps({'module': servers.__file__, 'neo4j': n.neo4j_version(), "
            "'keycloak': k.keycloak_version(), "
            "'files': [str(f) for f in (n.POM, o.POM, o.LAUNCHER, k.POM) if f.is_file()], "
            "'checkout': p.is_checkout(), 'state': str(p.state_dir())}))")
    env = clean_env(XDG_DATA_HOME=str(tmp_path / "data"))
    found = json.loads(run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, env=env).stdout)
    assert found["module"].startswith(str(venv)) and len(found["files"]) == 4, found
    assert found["neo4j"].startswith("5.26.") and found["keycloak"], found
    assert found["checkout"] is False and found["state"] == str((tmp_path / "data" / "trellis").resolve())


class Deployment:
    def __init__(self, venv: Path, scratch: Path, env: dict, port: int):
        self.venv, self.scratch, self.env, self.port = venv, scratch, env, port
        self.base = f"http://127.0.0.1:{port}"
        self.procs: dict[str, tuple[subprocess.Popen, Path]] = {}

    def trellis(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.venv / "bin" / "trellis"), *args], cwd=self.scratch, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:], self.logs())
        return result

    def spawn(self, name: str, *args: str) -> None:
        log = self.scratch / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(self.venv / "bin" / "trellis"), *args], cwd=self.scratch, env=self.env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = (proc, log)

    def logs(self) -> dict[str, str]:
        return {name: log.read_text(errors="replace")[-2500:] for name, (_, log) in self.procs.items()}

    def wait_for(self, what: str, check, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            for name, (proc, _) in self.procs.items():
                assert proc.poll() is None, (f"{name} exited while waiting for {what}", self.logs())
            assert time.monotonic() < deadline, (f"timed out waiting for {what}", self.logs())
            time.sleep(0.5)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as res:
                return res.status, dict(res.headers), res.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture(scope="module")
def deployment(venv, tmp_path_factory, graph_module, neo4j_uri, redis_url):
    """`trellis serve`, a worker and the docs builder, installed, started in a scratch directory; the demo
    catalog ingested with `trellis ingest`, and a docs repository synced by the worker (`trellis sync`)."""
    import redis

    from tests.conftest import neo4j_auth

    redis.Redis.from_url(redis_url).flushdb()
    scratch = tmp_path_factory.mktemp("scratch")
    shutil.copytree(REPO / "examples" / "demo-catalog", scratch / "demo-catalog")
    docs_repo = scratch / "docs-repo"
    (docs_repo / "docs").mkdir(parents=True)
    (docs_repo / "catalog-info.yaml").write_text(textwrap.dedent("""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: packaged-docs
          annotations: {backstage.io/techdocs-ref: "dir:."}
        spec: {type: service, lifecycle: production, owner: group:default/payments-team}
        """))
    (docs_repo / "mkdocs.yml").write_text("site_name: Packaged\n")
    (docs_repo / "docs" / "index.md").write_text("# Built by the installed docs builder\n")
    run(["git", "init", "-q"], cwd=docs_repo)
    (scratch / "trellis.yaml").write_text(textwrap.dedent("""\
        env: development
        guest_role: admin
        sources:
          - name: docs-repo
            provider: git
            options: {target: ./docs-repo}
        """))
    port = free_port()
    env = clean_env(NEO4J_URI=neo4j_uri, TRELLIS_REDIS_URL=redis_url, TRELLIS_CONFIG=str(scratch / "trellis.yaml"),
                    TRELLIS_STATE_DIR=str(scratch / "state"), TRELLIS_CACHE=str(scratch / "cache"),
                    TRELLIS_DOCS_DIR=str(scratch / "sites"), TRELLIS_DOCS_ASYNC="1",
                    TRELLIS_METRICS_TOKEN=METRICS_TOKEN, TRELLIS_LOG_FORMAT="json")   # as in the image
    auth = neo4j_auth()
    if auth:
        env.update(NEO4J_USER=auth[0], NEO4J_PASSWORD=auth[1])
    deploy = Deployment(venv, scratch, env, port)
    try:
        deploy.spawn("web", "serve", "--port", str(port), "--workers", "2", "--threads", "4")
        deploy.spawn("worker", "worker", "--queues", "celery", "--pool", "solo", "--concurrency", "1")
        deploy.spawn("docs-builder", "worker", "--queues", "docs", "--pool", "solo", "--concurrency", "1")
        deploy.wait_for("the portal", lambda: deploy.get("/api/v1/health/ready")[0] == 200
                        if _port_open(port) else False, timeout=180)
        for name in ("worker", "docs-builder"):
            log = deploy.procs[name][1]
            deploy.wait_for(f"{name} ready", lambda log=log: "ready." in log.read_text(errors="replace"), 180)
        ingested = deploy.trellis("ingest", "demo-catalog", check=False)
        assert ingested.returncode == 2 and "117" in ingested.stdout + ingested.stderr, ingested   # 1 rejected
        synced = deploy.trellis("sync", "docs-repo", "--wait", "--timeout", "240", "--json")
        assert json.loads(synced.stdout)["status"] == "ok", synced.stdout
        yield deploy
    finally:
        deploy.stop()


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


_ASSET = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="(/[^"]+\.(?:js|css))"')


def page_paths(deploy: Deployment) -> list[str]:
    """One page of every kind: home, lists, reports, search, runs, admin, docs, and every tab of an entity."""
    paths = ["/", "/catalog", "/catalog?kind=component", "/reports/ownership", "/paths", "/search?q=payments",
             "/runs", "/docs", "/admin", "/admin/audit", "/settings/tokens",
             "/catalog/default/group/payments-team", "/catalog/default/user/alice.nguyen",
             "/catalog/default/api/payments-api", "/catalog/default/resource/payments-db"]
    status, _, body = deploy.get("/catalog/default/component/payments-service")
    assert status == 200
    tabs = sorted(set(re.findall(r'href="(/catalog/default/component/payments-service\?tab=[a-z]+)"', body.decode())))
    assert len(tabs) >= 5 and any("tab=graph" in t for t in tabs), tabs
    return paths + ["/catalog/default/component/payments-service", *tabs]


def test_every_page_kind_answers_200_with_its_css_and_js(deployment):
    assets: set[str] = set()
    for path in page_paths(deployment):
        status, headers, body = deployment.get(path)
        assert status == 200, (path, status, body[:500])
        html = body.decode()
        assert f"Trellis {VERSION}" in html, path     # the footer names the release
        found = set(_ASSET.findall(html))
        assert any(a.endswith(".css") for a in found) and any(a.endswith(".js") for a in found), (path, found)
        assets |= found
    assert "/static/vendor/cytoscape.min.js" in assets
    for asset in sorted(assets):
        status, headers, body = deployment.get(asset)
        assert status == 200 and len(body) > 100, (asset, status)
        kind = "javascript" if asset.endswith(".js") else "css"
        assert kind in headers.get("Content-Type", ""), (asset, headers.get("Content-Type"))


def test_health_openapi_and_metrics_of_the_installed_portal(deployment):
    status, _, body = deployment.get("/api/v1/health")
    assert status == 200 and json.loads(body) == {"neo4j": "up", "version": VERSION}
    status, _, body = deployment.get("/api/v1/health/live")
    assert status == 200
    status, _, body = deployment.get("/api/v1/openapi.json")
    assert status == 200
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV31SpecValidator

    validate(json.loads(body), cls=OpenAPIV31SpecValidator)
    assert deployment.get("/metrics")[0] == 401
    samples: dict = {}
    ok = 'trellis_ingest_runs_total{status="ok"}'
    # a finished run is counted once it has settled (graph.run_stats.SETTLE_MS, 5 s): the fixture's sync may
    # have ended just now. Two gunicorn workers: whichever answers reports both (multi-process metrics).
    deadline = time.monotonic() + 30
    for attempt in range(1000):
        status, _, body = deployment.get("/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200
        samples = dict(line.rsplit(" ", 1) for line in body.decode().splitlines() if line and line[0] != "#")
        if (attempt >= 3 and ok in samples) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    runs = {k: v for k, v in samples.items() if k.startswith("trellis_ingest_runs_total")}
    assert float(runs.get(ok, 0)) >= 1, runs      # the worker's sync
    assert float(samples[f'trellis_build_info{{version="{VERSION}"}}']) == 1
    assert float(samples['trellis_http_request_duration_seconds_count{method="GET",route="/api/v1/health",'
                         'status="200"}']) >= 1


def test_in_chromium_pages_show_no_error_the_graph_draws_and_docs_build(deployment, chromium):
    context = chromium.new_context(base_url=deployment.base, viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
        page.on("response", lambda res: errors.append(f"{res.url}: HTTP {res.status}")
                if res.status >= 400 else None)
        for path in page_paths(deployment):
            page.goto(path)
            page.wait_for_load_state("load")
        assert not errors, errors

        page.goto("/catalog/default/resource/payments-db?tab=graph&depth=1")
        page.wait_for_selector('#graph[data-ready="true"]', timeout=30_000)
        assert page.locator("#graph canvas").count() >= 1
        assert page.evaluate("window.cy.nodes().length") > 5

        # the "Build docs" button queues a build that the installed docs builder runs
        page.goto("/catalog/default/component/packaged-docs?tab=docs")
        page.click('button[data-action="build-docs"]')
        page.wait_for_load_state("load")
        assert "queued" in page.url or "build=" in page.url, page.url
        deadline = time.monotonic() + 180
        while "Built by the installed docs builder" not in page.content():
            assert time.monotonic() < deadline, deployment.logs()
            page.wait_for_timeout(1000)
            page.goto("/catalog/default/component/packaged-docs?tab=docs")
        page.goto("/docs/default/component/packaged-docs/")
        assert "Built by the installed docs builder" in page.content()
        assert not errors, errors
    finally:
        context.close()


def test_processes_log_json_lines(deployment):
    """TRELLIS_LOG_FORMAT=json (the image's default): log records are JSON objects, one per line; what else
    the processes print (Celery's banner, the CLI's own messages) is not a log record."""
    records: dict[str, list[dict]] = {}
    for name, (_, log) in deployment.procs.items():
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]
        records[name] = [json.loads(line) for line in lines]
    assert any(r["logger"] == "trellis.access" and r["http"]["route"] == "/api/v1/health/ready"
               for r in records["web"]), records["web"][:5]
    assert any(r["logger"].startswith("gunicorn") for r in records["web"])
    for name in ("worker", "docs-builder"):
        assert any(r["logger"].startswith("celery") and "ready" in r["message"] for r in records[name]), \
            (name, deployment.logs()[name])
