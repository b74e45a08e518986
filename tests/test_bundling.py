"""`$openapi` / `$asyncapi`: documents with external `$ref`s bundled into `spec.definition` (local and by URL)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from ingest.descriptors import read_catalog
from ingest.integrations import parse_integrations
from ingest.sync import ingest
from tests.support.url_hosts import FileHost


def api(definition: str, name: str = "pets-api", kind_type: str = "openapi") -> str:
    return textwrap.dedent(f"""\
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {{name: {name}}}
        spec:
          type: {kind_type}
          lifecycle: production
          owner: team-a
          definition: {definition}
        """)


OPENAPI = """\
openapi: 3.0.3
info: {title: Pets, version: '1'}
paths:
  /pets:
    get:
      responses:
        '200':
          description: the pets
          content:
            application/json:
              schema: {$ref: './schemas/pet.yaml#/Pet'}
components:
  schemas:
    Local: {type: string}
    UsesLocal: {$ref: '#/components/schemas/Local'}
"""
PET = """\
Pet:
  type: object
  properties:
    id: {type: integer}
    owner: {$ref: 'owner.yaml'}
    tag: {$ref: '#/Tag'}
Tag: {type: string}
"""
OWNER = "type: object\nproperties: {name: {type: string}}\n"


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def definition(result) -> dict:
    [doc] = [d for d in result.documents if d.entity["kind"] == "API"]
    return yaml.safe_load(doc.entity["spec"]["definition"])


def test_openapi_external_refs_are_inlined_and_local_refs_kept(tmp_path):
    write(tmp_path, "catalog-info.yaml", api("{$openapi: ./openapi.yaml}"))
    write(tmp_path, "openapi.yaml", OPENAPI)
    write(tmp_path, "schemas/pet.yaml", PET)
    write(tmp_path, "schemas/owner.yaml", OWNER)
    result = read_catalog(tmp_path)
    assert result.ok, result.rejections
    doc = definition(result)
    schema = doc["paths"]["/pets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["owner"]["properties"]["name"] == {"type": "string"}
    assert schema["properties"]["tag"] == {"type": "string"}   # an internal ref of the external file
    assert doc["components"]["schemas"]["UsesLocal"] == {"$ref": "#/components/schemas/Local"}


def test_asyncapi_too_and_errors_name_the_field(tmp_path):
    write(tmp_path, "catalog-info.yaml", api("{$asyncapi: ./events.yaml}", kind_type="asyncapi")
          + "---\n" + api("{$openapi: ./broken.yaml}", name="broken"))
    write(tmp_path, "events.yaml", "asyncapi: 2.6.0\ninfo: {title: E, version: '1'}\nchannels:\n"
                                   "  pets: {subscribe: {message: {$ref: './msg.yaml'}}}\n")
    write(tmp_path, "msg.yaml", "payload: {type: string}\n")
    write(tmp_path, "broken.yaml", "openapi: 3.0.0\npaths: {$ref: './missing.yaml'}\n")
    result = read_catalog(tmp_path)
    assert definition(result)["channels"]["pets"]["subscribe"]["message"] == {"payload": {"type": "string"}}
    [rejection] = result.rejections
    assert (rejection.document, rejection.ref, rejection.field) == (2, "api:default/broken", "spec.definition")
    assert "missing.yaml" in rejection.reason and "does not exist" in rejection.reason


def test_a_ref_outside_the_root_and_a_cycle_are_refused(tmp_path):
    (tmp_path / "repo").mkdir()
    write(tmp_path, "secret.yaml", "password: hunter2\n")
    write(tmp_path, "repo/catalog-info.yaml", api("{$openapi: ./a.yaml}") + "---\n"
          + api("{$openapi: ./c1.yaml}", name="cycle"))
    write(tmp_path, "repo/a.yaml", "openapi: 3.0.0\nx: {$ref: '../secret.yaml'}\n")
    write(tmp_path, "repo/c1.yaml", "openapi: 3.0.0\nx: {$ref: './c2.yaml'}\n")
    write(tmp_path, "repo/c2.yaml", "y: {$ref: './c1.yaml'}\n")
    result = read_catalog(tmp_path / "repo")
    reasons = [r.reason for r in result.rejections]
    assert "outside the catalog root" in reasons[0] and "hunter2" not in str(result.documents)
    assert "references deep" in reasons[1]


def test_openapi_by_url_with_refs_relative_to_the_url_location():
    with FileHost("github", prefix="/api/v3") as gh, FileHost("plain") as plain:
        gh.add("acme/pets", "catalog-info.yaml", api("{$openapi: ./api/openapi.yaml}"))
        gh.add("acme/pets", "api/openapi.yaml", OPENAPI.replace("./schemas/pet.yaml",
                                                                f"{plain.url}/schemas/pet.yaml"))
        plain.add("", "schemas/pet.yaml", PET)
        plain.add("", "schemas/owner.yaml", OWNER)
        integrations = parse_integrations({"integrations": {
            "github": [{"host": gh.url.split("://")[1], "apiBaseUrl": gh.url + "/api/v3"}], "allow": [plain.url]}})
        result = ingest(None, f"{gh.url}/acme/pets/blob/main/catalog-info.yaml", integrations=integrations)
        assert result.ok and result.added == 1, result.rejected
        assert [p for _, p, _ in plain.log] == ["/schemas/pet.yaml", "/schemas/owner.yaml"]
