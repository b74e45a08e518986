"""URL-location attacks: whoever writes a registered remote file (or registers a URL) steers what the server reads.

The operator configured one GitHub host and one plain host. The attacker writes the catalog file on that
GitHub host and wants the server to fetch something else for them: an internal service (SSRF) through a
Location target, a `$text`/`$json`/`$yaml` placeholder, or a redirect; or to make one read cost without bound
(a Location that names itself or fans out).
"""
from __future__ import annotations

import pytest

from ingest.integrations import parse_integrations
from ingest.sync import ingest
from tests.support.url_hosts import FileHost

COMPONENT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: {name}}}
spec: {{type: service, lifecycle: production, owner: team-a}}
"""


@pytest.fixture
def setup():
    with FileHost("github", prefix="/api/v3") as gh, FileHost("plain") as plain, FileHost("plain") as internal:
        internal.add("", "admin/secrets.yaml", COMPONENT.format(name="leaked"))
        integrations = parse_integrations({"integrations": {
            "github": [{"host": gh.url.split("://")[1], "apiBaseUrl": gh.url + "/api/v3"}],
            "allow": [plain.url],
        }})
        yield gh, plain, internal, integrations


def register(gh, integrations):
    return ingest(None, f"{gh.url}/mallory/repo/blob/main/catalog-info.yaml", integrations=integrations)


def test_a_location_target_on_an_unconfigured_host_is_never_contacted(setup):
    gh, plain, internal, integrations = setup
    gh.add("mallory/repo", "catalog-info.yaml", f"""\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {{name: pivot}}
spec: {{type: url, target: {internal.url}/admin/secrets.yaml}}
""")
    result = register(gh, integrations)
    assert internal.log == []   # the gain: a request to the internal service
    assert "component:default/leaked" not in str(result.as_json())
    [rejection] = result.rejected
    assert rejection["file"] == f"{internal.url}/admin/secrets.yaml"
    assert "not on a configured integration host" in rejection["reason"]


@pytest.mark.parametrize("placeholder", ["$text", "$json", "$yaml"])
def test_a_placeholder_naming_an_unconfigured_host_is_never_contacted(setup, placeholder):
    gh, plain, internal, integrations = setup
    gh.add("mallory/repo", "catalog-info.yaml", COMPONENT.format(name="svc").replace(
        "owner: team-a}", f"owner: team-a, definition: {{{placeholder}: '{internal.url}/admin/secrets.yaml'}}}}"))
    result = register(gh, integrations)
    assert internal.log == []
    [rejection] = result.rejected
    assert rejection["field"] == "spec.definition" and rejection["document"] == 1
    assert "not on a configured integration host" in rejection["reason"]


def test_a_configured_host_redirecting_to_an_internal_one_is_refused(setup):
    gh, plain, internal, integrations = setup
    plain.redirects["/catalog/go.yaml"] = f"{internal.url}/admin/secrets.yaml"
    gh.add("mallory/repo", "catalog-info.yaml", f"""\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {{name: hop}}
spec: {{type: url, target: {plain.url}/catalog/go.yaml}}
""")
    result = register(gh, integrations)
    assert internal.log == []
    assert "redirects to another host" in result.rejected[0]["reason"]


def test_a_location_naming_itself_and_its_parent_is_read_once(setup):
    gh, plain, internal, integrations = setup
    gh.add("mallory/repo", "catalog-info.yaml", """\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: loop}
spec: {type: url, targets: [./catalog-info.yaml, ./a.yaml, ./a.yaml]}
""")
    gh.add("mallory/repo", "a.yaml", """\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: back}
spec: {type: url, targets: [./catalog-info.yaml]}
""")
    result = register(gh, integrations)
    assert result.files == 2 and len(gh.log) == 2


def test_a_registered_url_on_an_unconfigured_host_is_refused(setup):
    gh, plain, internal, integrations = setup
    with pytest.raises(Exception, match="not on a configured integration host"):
        ingest(None, f"{internal.url}/admin/secrets.yaml", integrations=integrations)
    assert internal.log == []


def test_the_substitution_budget_bounds_what_one_document_pulls_in(setup):
    gh, plain, internal, integrations = setup
    plain.add("", "big.txt", "x" * (4 * 1024 * 1024))
    refs = ", ".join(f"d{i}: {{$text: '{plain.url}/big.txt'}}" for i in range(5))
    gh.add("mallory/repo", "catalog-info.yaml", COMPONENT.format(name="svc").replace(
        "owner: team-a}", f"owner: team-a, extra: {{{refs}}}}}"))
    result = register(gh, integrations)
    assert any("exceed" in r["reason"] for r in result.rejected)
    assert result.added == 0
    assert len(plain.log) == 3   # 4 + 4 MB fit the 10 MB budget, the third overflows it, the rest are not read


def test_a_repository_file_cannot_pivot_to_an_unconfigured_host_either(setup, tmp_path):
    """The same attack from a path (or cloned) location: its URL targets and placeholders obey the allow-list."""
    gh, plain, internal, integrations = setup
    (tmp_path / "catalog-info.yaml").write_text(f"""\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {{name: pivot}}
spec: {{type: url, target: {internal.url}/admin/secrets.yaml}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: svc}}
spec: {{type: service, lifecycle: production, owner: team-a, x: {{$text: '{internal.url}/admin/secrets.yaml'}}}}
""")
    result = ingest(None, str(tmp_path), integrations=integrations)
    assert internal.log == []
    assert sorted(r["field"] or "" for r in result.rejected) == ["", "spec.x"]
    assert all("not on a configured integration host" in r["reason"] for r in result.rejected)


def test_an_openapi_ref_to_an_unconfigured_host_is_never_contacted(setup):
    gh, plain, internal, integrations = setup
    gh.add("mallory/repo", "catalog-info.yaml", COMPONENT.format(name="svc").replace("kind: Component", "kind: API")
           .replace("type: service", "type: openapi").replace("owner: team-a}", "owner: team-a, definition: {$openapi: ./o.yaml}}"))
    gh.add("mallory/repo", "o.yaml", f"openapi: 3.0.0\npaths: {{$ref: '{internal.url}/admin/secrets.yaml'}}\n")
    result = register(gh, integrations)
    assert internal.log == []
    [rejection] = result.rejected
    assert rejection["field"] == "spec.definition" and "not on a configured integration host" in rejection["reason"]


def test_a_ref_bomb_is_refused_before_it_is_built(setup):
    """Ten refs per level, five levels: 400,000 nodes from six small files. The bundle stops at its node cap."""
    gh, plain, internal, integrations = setup
    gh.add("mallory/repo", "catalog-info.yaml", COMPONENT.format(name="svc").replace("kind: Component", "kind: API")
           .replace("type: service", "type: openapi").replace("owner: team-a}", "owner: team-a, definition: {$openapi: ./l0.yaml}}"))
    for level in range(5):
        refs = ", ".join(f"{{$ref: './l{level + 1}.yaml'}}" for _ in range(10))
        gh.add("mallory/repo", f"l{level}.yaml", ("openapi: 3.0.0\n" if level == 0 else "") + f"x: [{refs}]\n")
    gh.add("mallory/repo", "l5.yaml", "leaf: {type: string}\n")
    result = register(gh, integrations)
    assert result.added == 0
    [rejection] = result.rejected
    assert rejection["field"] == "spec.definition" and "fan out" in rejection["reason"]
    assert len(gh.log) == 7   # each file read once, however often it is referenced
