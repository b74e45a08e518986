"""URL locations: descriptor files read by URL through each host's API (local servers in the hosts' shapes)."""
from __future__ import annotations

import json

import pytest

from ingest.integrations import parse_integrations
from ingest.integrations.readers import ReadFailed, UrlReaders, is_file_url, resolve_url
from ingest.sync import IngestError, ingest
from tests.support.url_hosts import FileHost

COMPONENT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  description: {name} service
spec:
  type: service
  lifecycle: production
  owner: team-a
"""

ROOT_LOCATION = """\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: acme-root
spec:
  type: url
  targets:
    - ./services/payments.yaml
    - {gitlab}/acme/platform/-/blob/main/catalog-info.yaml
    - {plain}/catalog/shared.yaml
"""

API_WITH_TEXT = """\
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: payments-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: ../apis/payments.yaml
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: shared-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: {plain}/catalog/shared-openapi.yaml
"""

OPENAPI = "openapi: 3.0.0\ninfo: {title: Payments, version: '1'}\npaths: {}\n"


def stored(graph, ref: str) -> dict | None:
    """The stored descriptor of an entity (None when there is none)."""
    rows = graph.read("MATCH (n:Entity {ref: $ref}) WHERE NOT n:Unresolved RETURN n.descriptor AS d", ref=ref)
    return json.loads(rows[0]["d"]) if rows else None


def config(*hosts: tuple[str, FileHost], token: str | None = None) -> dict:
    section: dict = {}
    for kind, host in hosts:
        netloc = host.url.split("://")[1]
        if kind == "plain":
            section.setdefault("allow", []).append(host.url)
            continue
        item = {"host": netloc}
        if kind in ("github", "gitlab", "bitbucketCloud", "bitbucketServer"):
            item["apiBaseUrl"] = host.url + host.prefix
        if kind in ("gitlab", "gitea"):
            item["baseUrl"] = host.url
        if token and kind == "github":
            item["token_secret_name"] = "url-test-token"
        section.setdefault(kind, []).append(item)
    return {"integrations": section}


@pytest.fixture
def hosts():
    with FileHost("github", prefix="/api/v3") as gh, FileHost("gitlab", prefix="/api/v4") as gl, \
            FileHost("plain") as plain:
        yield gh, gl, plain


def test_a_github_blob_url_registers_through_the_contents_api(hosts):
    gh, gl, plain = hosts
    gh.add("acme/payments", "catalog-info.yaml", COMPONENT.format(name="payments"))
    integrations = parse_integrations(config(("github", gh)))
    url = f"{gh.url}/acme/payments/blob/main/catalog-info.yaml"
    assert is_file_url(url, integrations)
    result = ingest(None, url, integrations=integrations)
    assert result.ok and result.added == 1 and result.source == f"url:{url}"
    assert gh.log == [("GET", "/api/v3/repos/acme/payments/contents/catalog-info.yaml?ref=main", 200)]


def test_blob_head_reads_the_default_branch_and_a_gitlab_project_is_asked_for_it(hosts):
    gh, gl, plain = hosts
    gh.default_branch = gl.default_branch = "trunk"
    gh.add("acme/payments", "catalog-info.yaml", COMPONENT.format(name="payments"), ref="trunk")
    gl.add("acme/platform", "catalog-info.yaml", COMPONENT.format(name="platform"), ref="trunk")
    integrations = parse_integrations(config(("github", gh), ("gitlab", gl)))
    assert ingest(None, f"{gh.url}/acme/payments/blob/HEAD/catalog-info.yaml", integrations=integrations).added == 1
    assert gh.log[-1][1] == "/api/v3/repos/acme/payments/contents/catalog-info.yaml"   # no ref: default branch
    assert ingest(None, f"{gl.url}/acme/platform/-/blob/HEAD/catalog-info.yaml", integrations=integrations).added == 1
    assert [p for _, p, _ in gl.log] == [
        "/api/v4/projects/acme%2Fplatform",
        "/api/v4/projects/acme%2Fplatform/repository/files/catalog-info.yaml/raw?ref=trunk"]


def test_a_tree_url_reads_that_folders_catalog_info(hosts):
    gh, gl, plain = hosts
    gh.add("acme/payments", "svc/catalog-info.yaml", COMPONENT.format(name="svc"))
    integrations = parse_integrations(config(("github", gh)))
    assert ingest(None, f"{gh.url}/acme/payments/tree/main/svc", integrations=integrations).added == 1


@pytest.mark.parametrize("style,prefix,url_path", [
    ("bitbucketCloud", "/2.0", "/ws/repo/src/main/catalog-info.yaml"),
    ("bitbucketServer", "/rest/api/1.0", "/projects/ACME/repos/repo/browse/catalog-info.yaml?at=main"),
    ("gitea", "/api/v1", "/acme/repo/src/branch/main/catalog-info.yaml"),
])
def test_bitbucket_and_gitea_file_urls_are_read_through_their_raw_endpoints(style, prefix, url_path):
    repo = {"bitbucketCloud": "ws/repo", "bitbucketServer": "ACME/repo", "gitea": "acme/repo"}[style]
    with FileHost(style, prefix=prefix) as host:
        host.add(repo, "catalog-info.yaml", COMPONENT.format(name="svc"))
        integrations = parse_integrations(config((style, host)))
        result = ingest(None, host.url + url_path, integrations=integrations)
        assert result.ok and result.added == 1, result.rejected
        assert host.log[-1][2] == 200


def test_a_location_tree_across_urls_with_text_substitutions(hosts):
    gh, gl, plain = hosts
    gh.add("acme/catalog", "catalog-info.yaml", ROOT_LOCATION.format(gitlab=gl.url, plain=plain.url))
    gh.add("acme/catalog", "services/payments.yaml", API_WITH_TEXT.format(plain=plain.url))
    gh.add("acme/catalog", "apis/payments.yaml", OPENAPI)
    gl.add("acme/platform", "catalog-info.yaml", COMPONENT.format(name="platform"))
    plain.add("", "catalog/shared.yaml", COMPONENT.format(name="shared"))
    plain.add("", "catalog/shared-openapi.yaml", "openapi: 3.0.0\n")
    integrations = parse_integrations(config(("github", gh), ("gitlab", gl), ("plain", plain)))
    root = f"{gh.url}/acme/catalog/blob/main/catalog-info.yaml"
    result = ingest(None, root, integrations=integrations)
    assert result.ok, result.rejected
    assert result.added == 5 and result.files == 4


def test_url_location_annotations_follow_backstage(hosts, graph):
    gh, gl, plain = hosts
    gh.add("acme/payments", "catalog-info.yaml", COMPONENT.format(name="payments"))
    integrations = parse_integrations(config(("github", gh)))
    url = f"{gh.url}/acme/payments/blob/main/catalog-info.yaml"
    ingest(graph, url, integrations=integrations)
    annotations = stored(graph, "component:default/payments")["metadata"]["annotations"]
    assert annotations["backstage.io/managed-by-location"] == f"url:{url}"
    assert annotations["backstage.io/managed-by-origin-location"] == f"url:{url}"
    assert annotations["backstage.io/source-location"] == f"url:{gh.url}/acme/payments/blob/main/"
    assert annotations["backstage.io/view-url"] == url
    assert annotations["backstage.io/edit-url"] == f"{gh.url}/acme/payments/edit/main/catalog-info.yaml"


def test_refresh_costs_one_304_per_file_and_a_404_file_keeps_its_entities(hosts, graph):
    gh, gl, plain = hosts
    gh.add("acme/catalog", "catalog-info.yaml", ROOT_LOCATION.format(gitlab=gl.url, plain=plain.url))
    gh.add("acme/catalog", "services/payments.yaml", COMPONENT.format(name="payments"))
    gl.add("acme/platform", "catalog-info.yaml", COMPONENT.format(name="platform"))
    plain.add("", "catalog/shared.yaml", COMPONENT.format(name="shared"))
    integrations = parse_integrations(config(("github", gh), ("gitlab", gl), ("plain", plain)))
    root = f"{gh.url}/acme/catalog/blob/main/catalog-info.yaml"
    first = ingest(graph, root, integrations=integrations)
    assert first.ok and first.added == 4
    for host in (gh, gl, plain):
        host.log.clear()
    again = ingest(graph, root, integrations=integrations)
    assert again.unchanged == 4 and again.added == again.updated == again.removed == 0
    statuses = [s for host in (gh, gl, plain) for _, p, s in host.log if not p.endswith("acme%2Fplatform")]
    assert statuses == [304, 304, 304, 304]
    del plain.files[("", "", "catalog/shared.yaml")]
    gone = ingest(graph, root, integrations=integrations)
    assert gone.removed == 0 and gone.unchanged == 3
    assert [(r["file"], r["document"]) for r in gone.rejected] == [(f"{plain.url}/catalog/shared.yaml", None)]
    assert "404" in gone.rejected[0]["reason"]
    assert stored(graph, "component:default/shared") is not None
    gh.files[("acme/catalog", "main", "catalog-info.yaml")] = ROOT_LOCATION.format(
        gitlab=gl.url, plain=plain.url).replace("    - ./services/payments.yaml\n", "").encode()
    dropped = ingest(graph, root, integrations=integrations)
    assert dropped.removed == 1
    assert stored(graph, "component:default/payments") is None


def test_a_host_not_configured_is_refused_before_anything_is_contacted(hosts):
    gh, gl, plain = hosts
    gh.add("acme/payments", "catalog-info.yaml", COMPONENT.format(name="payments"))
    integrations = parse_integrations(config(("gitlab", gl)))
    with pytest.raises(Exception, match="not on a configured integration host"):
        ingest(None, f"{gh.url}/acme/payments/blob/main/catalog-info.yaml", integrations=integrations)
    assert gh.log == []


def test_a_redirect_to_another_host_is_refused(hosts):
    gh, gl, plain = hosts
    plain.redirects["/catalog/moved.yaml"] = f"{gl.url}/secret.yaml"
    integrations = parse_integrations(config(("gitlab", gl), ("plain", plain)))
    with pytest.raises(IngestError, match="redirects to another host"):
        ingest(None, f"{plain.url}/catalog/moved.yaml", integrations=integrations)
    assert gl.log == []


@pytest.mark.parametrize("with_length", [True, False])
def test_a_50_mb_body_is_refused(hosts, with_length):
    gh, gl, plain = hosts
    plain.huge["/catalog/huge.yaml"] = with_length
    integrations = parse_integrations(config(("plain", plain)))
    with pytest.raises(IngestError, match="larger than the limit"):
        ingest(None, f"{plain.url}/catalog/huge.yaml", integrations=integrations)


def test_rate_limiting_waits_for_retry_after_then_reads(hosts, tmp_path):
    gh, gl, plain = hosts
    plain.add("", "catalog/a.yaml", COMPONENT.format(name="a"))
    plain.rate_limit_once.add("/catalog/a.yaml")
    slept: list[float] = []
    readers = UrlReaders(parse_integrations(config(("plain", plain))), max_bytes=1000, sleep=slept.append)
    assert "name: a" in readers.read(f"{plain.url}/catalog/a.yaml").text
    assert slept == [7.0] and [s for _, _, s in plain.log] == [429, 200]


def test_tokens_come_from_the_secrets_mechanism_and_go_to_their_host_only(hosts, monkeypatch):
    gh, gl, plain = hosts
    monkeypatch.setenv("TRELLIS_SECRET_URL_TEST_TOKEN", "ghp_secret_value")
    gh.token = "ghp_secret_value"
    gh.add("acme/payments", "catalog-info.yaml", COMPONENT.format(name="payments").replace(
        "  owner: team-a\n", "  owner: team-a\n  definition:\n    $text: " + plain.url + "/x.yaml\n"))
    plain.add("", "x.yaml", "x")
    integrations = parse_integrations(config(("github", gh), ("plain", plain), token="x"))
    result = ingest(None, f"{gh.url}/acme/payments/blob/main/catalog-info.yaml", integrations=integrations)
    assert result.added == 1
    assert gh.auth_seen == ["token ghp_secret_value"]
    assert plain.auth_seen == [None]


def test_relative_urls_keep_each_hosts_shape():
    assert resolve_url("https://github.com/a/b/blob/main/x/catalog-info.yaml", "../api.yaml") == \
        "https://github.com/a/b/blob/main/api.yaml"
    assert resolve_url("https://dev.azure.com/o/p/_git/r?path=/x/catalog-info.yaml&version=GBmain",
                       "./api.yaml") == "https://dev.azure.com/o/p/_git/r?path=%2Fx%2Fapi.yaml&version=GBmain"
    assert resolve_url("https://bb.acme.com/projects/P/repos/r/browse/x/c.yaml?at=main", "d.yaml") == \
        "https://bb.acme.com/projects/P/repos/r/browse/x/d.yaml?at=main"


def test_a_missing_root_file_is_a_clear_error(hosts):
    gh, gl, plain = hosts
    integrations = parse_integrations(config(("github", gh)))
    with pytest.raises(IngestError, match="does not exist"):
        ingest(None, f"{gh.url}/acme/none/blob/main/catalog-info.yaml", integrations=integrations)


def test_readers_refuse_unconfigured_hosts_with_the_rule():
    readers = UrlReaders(parse_integrations({}), max_bytes=1000)
    with pytest.raises(ReadFailed) as caught:
        readers.read("https://files.attacker.example/catalog-info.yaml")
    assert caught.value.refused and "not on a configured integration host" in str(caught.value)


def test_trellis_ingest_reads_a_url_from_the_configured_integrations(hosts, graph, neo4j_uri, monkeypatch,
                                                                      tmp_path):
    from click.testing import CliRunner

    from app.cli import main

    gh, gl, plain = hosts
    gh.add("acme/payments", "catalog-info.yaml", COMPONENT.format(name="payments"))
    config_file = tmp_path / "trellis.yaml"
    config_file.write_text(json.dumps(config(("github", gh))))
    monkeypatch.setenv("TRELLIS_CONFIG", str(config_file))
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    url = f"{gh.url}/acme/payments/blob/main/catalog-info.yaml"
    result = CliRunner().invoke(main, ["ingest", url, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1
    refused = CliRunner().invoke(main, ["ingest", f"{plain.url}/catalog-info.yaml"])
    assert refused.exit_code == 1 and "not on a configured integration host" in refused.output


def test_a_path_location_follows_url_targets_and_url_placeholders(hosts, graph, tmp_path):
    gh, gl, plain = hosts
    gh.add("acme/payments", "catalog-info.yaml", COMPONENT.format(name="payments"))
    plain.add("", "specs/local-api.yaml", OPENAPI)
    (tmp_path / "catalog-info.yaml").write_text(f"""\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {{name: mixed}}
spec:
  type: url
  targets: [{gh.url}/acme/payments/blob/main/catalog-info.yaml, {plain.url}/specs/gone.yaml]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {{name: local-api}}
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: {{$text: '{plain.url}/specs/local-api.yaml'}}
""")
    integrations = parse_integrations(config(("github", gh), ("plain", plain)))
    result = ingest(graph, str(tmp_path), integrations=integrations)
    assert result.added == 3
    assert [(r["file"], r["document"]) for r in result.rejected] == [(f"{plain.url}/specs/gone.yaml", None)]
    assert stored(graph, "api:default/local-api")["spec"]["definition"] == OPENAPI
    url = f"{gh.url}/acme/payments/blob/main/catalog-info.yaml"
    annotations = stored(graph, "component:default/payments")["metadata"]["annotations"]
    assert annotations["backstage.io/managed-by-location"] == f"url:{url}"
    assert annotations["backstage.io/managed-by-origin-location"] == f"file:{tmp_path.resolve()}"
    again = ingest(graph, str(tmp_path), integrations=integrations)
    assert again.removed == 0 and again.added == 0


def test_each_host_type_maps_its_file_url_to_its_api():
    """Azure DevOps and GitHub Enterprise defaults have no local server here: the request they would send."""
    from ingest.integrations.readers import _request

    integrations = parse_integrations({"integrations": {"github": [{"host": "ghe.acme.com"}]}})
    azure = integrations.by_host("dev.azure.com")
    request = _request(azure, "https://dev.azure.com/acme/shop/_git/payments?path=/svc/catalog-info.yaml"
                              "&version=GBrelease", lambda url: None)
    assert (request.base, request.path) == ("https://dev.azure.com/", "acme/shop/_apis/git/repositories/payments/items")
    assert request.params["path"] == "/svc/catalog-info.yaml"
    assert request.params["versionDescriptor.version"] == "release"
    ghe = integrations.by_host("ghe.acme.com")
    request = _request(ghe, "https://ghe.acme.com/acme/payments/blob/main/docs/catalog-info.yaml", lambda url: None)
    assert (request.base, request.path, request.params) == (
        "https://ghe.acme.com/api/v3", "repos/acme/payments/contents/docs/catalog-info.yaml", {"ref": "main"})
    assert not is_file_url("https://ghe.acme.com/acme/payments", integrations)        # a repository: cloned
    assert not is_file_url("https://ghe.acme.com/acme/payments.git", integrations)
