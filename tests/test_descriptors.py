"""Unit tests for ingest.descriptors: reading, limits, substitutions, validation and Locations.

Pure Python: every test builds its own files under tmp_path; no Neo4j, no network.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ingest.descriptors import Document, Limits, ReadResult, Rejection, read_catalog
from ingest.descriptors import yaml_loader

V1 = "backstage.io/v1alpha1"

VALID: dict[str, str] = {
    "Component": f"""
apiVersion: {V1}
kind: Component
metadata:
  name: artist-web
  description: The place to be, for great artists
  tags: [java, web]
  labels: {{tier: front, example.com/team: payments}}
  annotations: {{backstage.io/techdocs-ref: "dir:.", github.com/project-slug: org/artist-web}}
  links: [{{url: "https://example.com", title: Home}}]
spec:
  type: website
  lifecycle: production
  owner: artist-relations-team
  system: artist-engagement-portal
  providesApis: [artist-api]
  consumesApis: [search-api]
  dependsOn: [resource:artists-db]
  dependencyOf: [component:other]
  subcomponentOf: portal
""",
    "API": f"""
apiVersion: {V1}
kind: API
metadata: {{name: artist-api}}
spec: {{type: openapi, lifecycle: production, owner: team-a, system: sys, definition: "openapi: 3.0.0"}}
""",
    "Resource": f"""
apiVersion: {V1}
kind: Resource
metadata: {{name: artists-db}}
spec: {{type: database, owner: team-a, system: sys, dependsOn: [resource:x], dependencyOf: [component:y]}}
""",
    "System": f"""
apiVersion: {V1}
kind: System
metadata: {{name: sys}}
spec: {{owner: team-a, domain: artists, type: product}}
""",
    "Domain": f"""
apiVersion: {V1}
kind: Domain
metadata: {{name: artists}}
spec: {{owner: team-a, subdomainOf: music, type: product-area}}
""",
    "Group": f"""
apiVersion: {V1}
kind: Group
metadata: {{name: team-a}}
spec:
  type: team
  profile: {{displayName: Team A, email: a@example.com, picture: "https://example.com/a.png"}}
  parent: backstage
  children: []
  members: [jdoe]
""",
    "User": f"""
apiVersion: {V1}
kind: User
metadata: {{name: jdoe}}
spec:
  profile: {{displayName: Jane Doe, email: jdoe@example.com}}
  memberOf: []
""",
    "Location": f"""
apiVersion: {V1}
kind: Location
metadata: {{name: empty-location}}
spec: {{}}
""",
    "Template": """
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: react-app, annotations: {backstage.io/time-saved: PT4H}}
spec:
  owner: team-a
  type: website
  parameters:
    - title: Name
      required: [name]
      properties:
        name: {type: string, "ui:autofocus": true}
  steps:
    - id: fetch
      name: Fetch
      action: fetch:template
      input: {url: ./skeleton}
  output:
    links: [{title: Repo, url: "${{ steps.publish.output.remoteUrl }}"}]
""",
}

REQUIRED: dict[str, list[str]] = {
    "Component": ["type", "lifecycle", "owner"],
    "API": ["type", "lifecycle", "owner", "definition"],
    "Resource": ["type", "owner"],
    "System": ["owner"],
    "Domain": ["owner"],
    "Group": ["type", "children"],
    "User": ["memberOf"],
    "Template": ["type", "parameters", "steps"],
}


def write(base: Path, rel: str, text: str) -> Path:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def component(name: str, **spec: object) -> str:
    body = {"type": "service", "lifecycle": "production", "owner": "team-a", **spec}
    return json.dumps({"apiVersion": V1, "kind": "Component", "metadata": {"name": name}, "spec": body})


def read_text(tmp_path: Path, text: str, name: str = "catalog-info.yaml") -> ReadResult:
    return read_catalog(write(tmp_path, name, text))


def fields(result: ReadResult) -> list[str | None]:
    return [r.field for r in result.rejections]


# --- acceptance of every built-in kind -------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_builtin_kind_is_accepted(tmp_path: Path, kind: str) -> None:
    result = read_text(tmp_path, VALID[kind])
    assert result.rejections == []
    assert len(result.documents) == 1
    doc = result.documents[0]
    assert doc.entity["kind"] == kind
    assert doc.index == 1
    assert doc.file == (tmp_path / "catalog-info.yaml").resolve()
    json.dumps(doc.entity)  # plain JSON-compatible values


def test_all_kinds_in_one_multi_document_file(tmp_path: Path) -> None:
    result = read_text(tmp_path, "\n---\n".join(VALID.values()))
    assert result.rejections == []
    assert [d.entity["kind"] for d in result.documents] == list(VALID)
    assert [d.index for d in result.documents] == list(range(1, len(VALID) + 1))


def test_kind_matching_is_case_insensitive_and_normalised(tmp_path: Path) -> None:
    text = VALID["API"].replace("kind: API", "kind: api")
    result = read_text(tmp_path, text)
    assert result.rejections == []
    assert result.documents[0].entity["kind"] == "API"


def test_v1beta1_is_accepted_for_builtin_kinds(tmp_path: Path) -> None:
    result = read_text(tmp_path, VALID["System"].replace(V1, "backstage.io/v1beta1"))
    assert result.rejections == [] and len(result.documents) == 1


# --- required spec fields ----------------------------------------------------------------------------

def _without(kind: str, field: str) -> dict:
    import yaml
    entity = yaml.safe_load(VALID[kind])
    del entity["spec"][field]
    return entity


@pytest.mark.parametrize(
    "kind,field", [(k, f) for k, fs in REQUIRED.items() for f in fs])
def test_missing_required_spec_field_is_rejected_with_exact_path(
        tmp_path: Path, kind: str, field: str) -> None:
    result = read_text(tmp_path, json.dumps(_without(kind, field)))
    assert result.documents == []
    assert len(result.rejections) == 1
    rej = result.rejections[0]
    assert rej.field == f"spec.{field}"
    assert rej.reason == f"spec.{field} is required"
    assert rej.document == 1
    assert rej.file == "catalog-info.yaml"
    assert rej.ref is not None and rej.ref.startswith(kind.lower() + ":default/")


def test_missing_spec_is_rejected_for_builtin_kind(tmp_path: Path) -> None:
    result = read_text(tmp_path, f"apiVersion: {V1}\nkind: Location\nmetadata: {{name: x}}\n")
    assert fields(result) == ["spec"]


def test_all_errors_of_a_document_are_reported(tmp_path: Path) -> None:
    text = f"apiVersion: {V1}\nkind: Component\nmetadata: {{name: x}}\nspec: {{}}\n"
    result = read_text(tmp_path, text)
    assert fields(result) == ["spec.type", "spec.lifecycle", "spec.owner"]
    assert {r.ref for r in result.rejections} == {"component:default/x"}


def test_errors_are_capped_per_document(tmp_path: Path) -> None:
    tags = [f"Bad{i}" for i in range(50)]
    text = component("x").replace('"metadata": {', f'"metadata": {{"tags": {json.dumps(tags)}, ')
    result = read_text(tmp_path, text)
    assert len(result.rejections) == 20
    assert result.rejections[0].field == "metadata.tags[0]"


def test_ref_valued_fields_must_be_non_empty_strings(tmp_path: Path) -> None:
    result = read_text(tmp_path, component("x", owner="", dependsOn=["component:a", 7]))
    assert fields(result) == ["spec.owner", "spec.dependsOn[1]"]
    assert result.rejections[0].reason == "spec.owner must not be empty"
    assert result.rejections[1].reason == "spec.dependsOn[1] must be a string, not a number"


# --- envelope rules ----------------------------------------------------------------------------------

def test_bad_name_is_rejected_with_a_human_reason(tmp_path: Path) -> None:
    result = read_text(tmp_path, component("Bad Name!"))
    assert fields(result) == ["metadata.name"]
    assert result.rejections[0].reason == (
        "metadata.name 'Bad Name!' must be 1-63 characters of letters, digits and -_. "
        "starting and ending with a letter or digit")
    assert result.rejections[0].ref == "component:default/bad name!"


@pytest.mark.parametrize("name", ["a" * 64, "-a", "a-", "a--b", "a b", "a\n"])
def test_name_rules(tmp_path: Path, name: str) -> None:
    assert fields(read_text(tmp_path, component(name))) == ["metadata.name"]


@pytest.mark.parametrize("name", ["a", "A1", "visits-tracking-service", "CircleciBuildsDumpV2_avro_gcs",
                                  "a.b_c-d", "x" * 63])
def test_good_names(tmp_path: Path, name: str) -> None:
    assert read_text(tmp_path, component(name)).rejections == []


def test_missing_name_points_at_metadata_name(tmp_path: Path) -> None:
    result = read_text(tmp_path, f"apiVersion: {V1}\nkind: System\nmetadata: {{}}\nspec: {{owner: a}}\n")
    assert fields(result) == ["metadata.name"]
    assert result.rejections[0].ref is None


def test_namespace_is_case_insensitive_but_must_be_a_dns_label(tmp_path: Path) -> None:
    ok = VALID["System"].replace("name: sys}", "name: sys, namespace: Payments-EU}")
    result = read_text(tmp_path, ok)
    assert result.rejections == []
    assert result.documents[0].entity["metadata"]["namespace"] == "Payments-EU"
    bad = VALID["System"].replace("name: sys}", "name: sys, namespace: pay_ments}")
    result = read_text(tmp_path, bad)
    assert fields(result) == ["metadata.namespace"]
    assert result.rejections[0].ref == "system:pay_ments/sys"
    assert "DNS label" in result.rejections[0].reason


def test_bad_tag(tmp_path: Path) -> None:
    text = VALID["System"].replace("name: sys}", "name: sys, tags: [ok, also-ok, Not_OK]}")
    result = read_text(tmp_path, text)
    assert fields(result) == ["metadata.tags[2]"]
    assert "'Not_OK'" in result.rejections[0].reason


def test_bad_label_key_and_value(tmp_path: Path) -> None:
    text = VALID["System"].replace(
        "name: sys}", "name: sys, labels: {'Bad Key!': x, example.com/ok: 'not ok', fine: ''}}")
    result = read_text(tmp_path, text)
    assert fields(result) == ['metadata.labels["Bad Key!"]', 'metadata.labels["example.com/ok"]']
    assert result.rejections[0].reason.startswith("metadata.labels key 'Bad Key!' must be")


def test_bad_annotation_key_any_value(tmp_path: Path) -> None:
    text = VALID["System"].replace(
        "name: sys}", "name: sys, annotations: {'UPPER.io/x': v, 'a.io/ok': 'any value at all: !'}}")
    result = read_text(tmp_path, text)
    assert fields(result) == ['metadata.annotations["UPPER.io/x"]']


def test_annotation_value_must_be_a_string(tmp_path: Path) -> None:
    text = VALID["System"].replace("name: sys}", "name: sys, annotations: {a.io/n: 5}}")
    result = read_text(tmp_path, text)
    assert fields(result) == ['metadata.annotations["a.io/n"]']


def test_link_requires_url(tmp_path: Path) -> None:
    text = VALID["System"].replace("name: sys}", "name: sys, links: [{title: x}]}")
    assert fields(read_text(tmp_path, text)) == ["metadata.links[0].url"]


def test_non_string_keys_are_rejected(tmp_path: Path) -> None:
    text = f"apiVersion: {V1}\nkind: System\nmetadata: {{name: s}}\nspec:\n  owner: a\n  200: ok\n"
    result = read_text(tmp_path, text)
    assert fields(result) == ["spec"]
    assert "not a string" in result.rejections[0].reason


def test_yaml_1_2_scalars_stay_strings(tmp_path: Path) -> None:
    text = VALID["System"].replace("type: product", "type: no") + "metadata2: {a: 2024-01-01, b: 1:20}\n"
    doc = read_text(tmp_path, text).documents[0]
    assert doc.entity["spec"]["type"] == "no"
    assert doc.entity["metadata2"] == {"a": "2024-01-01", "b": "1:20"}


# --- apiVersion / custom kinds ------------------------------------------------------------------------

def test_custom_kind_is_accepted_with_envelope_only(tmp_path: Path) -> None:
    text = "apiVersion: example.com/v1\nkind: Pipeline\nmetadata: {name: build}\nspec: {anything: [1, 2]}\n"
    result = read_text(tmp_path, text)
    assert result.rejections == []
    assert result.documents[0].entity["kind"] == "Pipeline"


def test_custom_kind_still_needs_a_valid_envelope(tmp_path: Path) -> None:
    text = "apiVersion: 'not valid/v1/x'\nkind: 9Pipe\nmetadata: {name: build}\nspec: []\n"
    result = read_text(tmp_path, text)
    assert fields(result) == ["apiVersion", "kind", "spec"]


def test_builtin_kind_under_foreign_api_version_is_rejected(tmp_path: Path) -> None:
    text = VALID["Component"].replace(V1, "example.com/v1")
    result = read_text(tmp_path, text)
    assert fields(result) == ["apiVersion"]
    assert "not supported for kind Component" in result.rejections[0].reason


def test_template_api_version_rules(tmp_path: Path) -> None:
    as_backstage = VALID["Template"].replace("scaffolder.backstage.io/v1beta3", V1)
    assert fields(read_text(tmp_path, as_backstage)) == ["apiVersion"]
    older = VALID["Template"].replace("v1beta3", "v1beta2")
    assert fields(read_text(tmp_path, older)) == ["apiVersion"]
    component_as_scaffolder = VALID["Component"].replace(V1, "scaffolder.backstage.io/v1beta3")
    assert fields(read_text(tmp_path, component_as_scaffolder)) == ["apiVersion"]
    assert read_text(tmp_path, VALID["Template"]).rejections == []


def test_template_step_needs_action_and_parameters_shape(tmp_path: Path) -> None:
    text = VALID["Template"].replace("action: fetch:template", "name2: x").replace(
        "  parameters:\n", "  parameters: nope\n  ignored:\n")
    result = read_text(tmp_path, text)
    assert fields(result) == ["spec.parameters", "spec.steps[0].action"]


# --- multi-document files and YAML problems -----------------------------------------------------------

def test_bad_second_document_does_not_stop_first_and_third(tmp_path: Path) -> None:
    text = "\n---\n".join([component("one"), component("two", owner=None), component("three")])
    result = read_text(tmp_path, text)
    assert [d.entity["metadata"]["name"] for d in result.documents] == ["one", "three"]
    assert [d.index for d in result.documents] == [1, 3]
    assert [(r.document, r.field, r.ref) for r in result.rejections] == [
        (2, "spec.owner", "component:default/two")]
    assert result.rejections[0].reason == "spec.owner must be a string, not null"


def test_empty_documents_are_skipped_silently(tmp_path: Path) -> None:
    text = "---\n# only a comment\n---\n" + component("a") + "\n---\n"
    result = read_text(tmp_path, text)
    assert result.rejections == []
    assert [d.index for d in result.documents] == [2]


def test_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    result = read_text(tmp_path, component("a") + "\n---\n- just\n- a list\n---\nplain words\n")
    assert [(r.document, r.field) for r in result.rejections] == [(2, None), (3, None)]
    assert "not a mapping" in result.rejections[0].reason
    assert len(result.documents) == 1


def test_malformed_yaml_reports_line_and_column(tmp_path: Path) -> None:
    text = component("a") + "\n---\napiVersion: x\nkind: Component\n  metadata: oops\n"
    result = read_text(tmp_path, text)
    assert len(result.documents) == 1
    assert len(result.rejections) == 1
    rej = result.rejections[0]
    assert rej.document == 2 and rej.field is None
    assert "line 5" in rej.reason and "column" in rej.reason


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    text = f"apiVersion: {V1}\nkind: System\nmetadata: {{name: s}}\nspec:\n  owner: a\n  owner: b\n---\n"
    text += component("b")
    result = read_text(tmp_path, text)
    assert [r.document for r in result.rejections] == [1]
    assert "duplicate key 'owner'" in result.rejections[0].reason
    assert [d.index for d in result.documents] == [2]


def test_unsafe_and_unknown_tags_are_rejected(tmp_path: Path) -> None:
    text = ("a: !!python/object/apply:os.system [echo hi]\n---\n"
            "b: !custom x\n---\nc: !!binary aGk=\n---\n" + component("ok"))
    result = read_text(tmp_path, text)
    assert [r.document for r in result.rejections] == [1, 2, 3]
    assert all("is not allowed" in r.reason for r in result.rejections)
    assert [d.index for d in result.documents] == [4]


def test_non_utf8_bytes_name_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "catalog-info.yaml"
    path.write_bytes(b"apiVersion: x\nkind: \xff\xfe\n")
    result = read_catalog(path)
    assert result.documents == []
    rej = result.rejections[0]
    assert (rej.document, rej.field, rej.ref) == (None, None, None)
    assert "UTF-8" in rej.reason and "offset 20" in rej.reason


def test_alias_bomb_is_rejected_fast(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    text = "\n".join(lines) + "\n---\n" + component("after-bomb")
    start = time.monotonic()
    result = read_text(tmp_path, text)
    assert time.monotonic() - start < 1.0
    assert [r.document for r in result.rejections] == [1]
    assert "alias" in result.rejections[0].reason
    assert [d.entity["metadata"]["name"] for d in result.documents] == ["after-bomb"]


def test_alias_count_limit_and_recursive_alias(tmp_path: Path) -> None:
    many = "x: &x 1\nl: [" + ", ".join(["*x"] * 20) + "]\n"
    result = read_catalog(write(tmp_path, "catalog-info.yaml", many), limits=Limits(max_aliases=10))
    assert "more than 10 YAML aliases" in result.rejections[0].reason
    result = read_text(tmp_path, "a: &a [*a]\n")
    assert "recursive" in result.rejections[0].reason


def test_deep_nesting_is_rejected(tmp_path: Path) -> None:
    result = read_text(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nests deeper" in result.rejections[0].reason


def test_aliases_inside_limits_are_expanded_unshared(tmp_path: Path) -> None:
    text = ("apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\n"
            "spec:\n  base: &b {x: [1]}\n  copy: *b\n  merged: {<<: *b, y: 2}\n")
    doc = read_text(tmp_path, text).documents[0]
    spec = doc.entity["spec"]
    assert spec["copy"] == {"x": [1]} and spec["merged"] == {"x": [1], "y": 2}
    assert spec["copy"] is not spec["base"]


def test_huge_file_is_rejected_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "catalog-info.yaml"
    with path.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: instant to create, never read
    start = time.monotonic()
    result = read_catalog(path)
    assert time.monotonic() - start < 1.0
    rej = result.rejections[0]
    assert rej.document is None and "larger than the limit" in rej.reason
    assert "50.0 MiB" in rej.reason


def test_file_size_limit_is_configurable(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog-info.yaml", component("a"))
    assert read_catalog(path, limits=Limits(max_file_bytes=10)).documents == []


def test_control_characters_are_rejected(tmp_path: Path) -> None:
    result = read_text(tmp_path, "a: b\nc: \x00\n")
    assert result.rejections[0].document is None
    assert "line 2" in result.rejections[0].reason


# --- substitutions ------------------------------------------------------------------------------------

def _api(definition: str) -> str:
    return (f"apiVersion: {V1}\nkind: API\nmetadata: {{name: pets}}\n"
            f"spec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n"
            f"  definition: {definition}\n")


def test_text_substitution_from_nested_path(tmp_path: Path) -> None:
    write(tmp_path, "specs/v1/openapi.yaml", "openapi: 3.0.0\ninfo: {title: Pets}\n")
    result = read_text(tmp_path, _api("{$text: ./specs/v1/openapi.yaml}"))
    assert result.rejections == []
    assert result.documents[0].entity["spec"]["definition"].startswith("openapi: 3.0.0")


def test_json_and_yaml_substitutions_anywhere(tmp_path: Path) -> None:
    write(tmp_path, "data/values.json", '{"a": [1, 2], "b": {"c": null}}')
    write(tmp_path, "data/more/values.yaml", "x: 1\nresponses:\n  200: {description: ok}\n")
    text = ("apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\n"
            "spec:\n  deep:\n    - j: {$json: data/values.json}\n    - y: {$yaml: ./data/more/values.yaml}\n"
            "  keep: {$text: 1, other: 2}\n")
    result = read_text(tmp_path, text)
    assert result.rejections == []
    spec = result.documents[0].entity["spec"]
    assert spec["deep"][0]["j"] == {"a": [1, 2], "b": {"c": None}}
    assert spec["deep"][1]["y"] == {"x": 1, "responses": {"200": {"description": "ok"}}}
    assert spec["keep"] == {"$text": 1, "other": 2}


def test_substitution_relative_to_descriptor_file_in_subdirectory(tmp_path: Path) -> None:
    write(tmp_path, "svc/api/openapi.yaml", "openapi: 3.1.0\n")
    write(tmp_path, "svc/catalog-info.yaml", _api("{$text: api/openapi.yaml}"))
    result = read_catalog(tmp_path)
    assert result.rejections == []
    assert result.documents[0].entity["spec"]["definition"] == "openapi: 3.1.0\n"


def test_failed_substitution_rejects_its_document_only(tmp_path: Path) -> None:
    text = component("one") + "\n---\n" + _api("{$text: ./missing.yaml}") + "---\n" + component("three")
    result = read_text(tmp_path, text)
    assert [d.index for d in result.documents] == [1, 3]
    assert [(r.document, r.field, r.ref) for r in result.rejections] == [
        (2, "spec.definition", "api:default/pets")]
    assert "does not exist" in result.rejections[0].reason


def test_substitution_escaping_root_with_dotdot_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "secret.txt", "s3cret")
    write(tmp_path, "repo/catalog-info.yaml", _api("{$text: ../secret.txt}"))
    result = read_catalog(tmp_path / "repo")
    assert result.documents == []
    rej = result.rejections[0]
    assert rej.field == "spec.definition" and "outside the catalog root" in rej.reason
    assert rej.file == "catalog-info.yaml"


def test_substitution_absolute_path_outside_root_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "secret.txt", "s3cret")
    write(tmp_path, "repo/catalog-info.yaml", _api("{$text: " + str(tmp_path / "secret.txt") + "}"))
    result = read_catalog(tmp_path / "repo")
    assert fields(result) == ["spec.definition"]


def test_substitution_escaping_root_through_symlink_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "outside/secret.txt", "s3cret")
    (tmp_path / "repo").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "repo" / "link")
    write(tmp_path, "repo/catalog-info.yaml", _api("{$text: ./link/secret.txt}"))
    result = read_catalog(tmp_path / "repo")
    assert result.documents == []
    assert result.rejections[0].field == "spec.definition"
    assert "symlink" in result.rejections[0].reason


def test_remote_substitution_is_rejected(tmp_path: Path) -> None:
    result = read_text(tmp_path, _api("{$text: 'https://example.com/openapi.yaml'}"))
    assert fields(result) == ["spec.definition"]
    assert "not supported by local ingestion" in result.rejections[0].reason


def test_bad_json_and_yaml_substitutions(tmp_path: Path) -> None:
    write(tmp_path, "bad.json", "{nope")
    write(tmp_path, "bad.yaml", "a: [\n")
    text = ("apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\n"
            "spec: {a: {$json: bad.json}, b: {$yaml: bad.yaml}}\n")
    result = read_text(tmp_path, text)
    assert fields(result) == ["spec.a", "spec.b"]
    assert "line 1" in result.rejections[0].reason


def test_yaml_substitution_bomb_is_rejected(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    prev = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
        prev = name
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    start = time.monotonic()
    text = "apiVersion: e.io/v1\nkind: T\nmetadata: {name: t}\nspec: {$yaml: bomb.yaml}\n"
    result = read_text(tmp_path, text)
    assert time.monotonic() - start < 1.0
    assert fields(result) == ["spec"]


def test_substitution_budget_per_document(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", "x" * 1000)
    subs = ", ".join(f"k{i}: {{$text: big.txt}}" for i in range(5))
    text = f"apiVersion: e.io/v1\nkind: T\nmetadata: {{name: t}}\nspec: {{{subs}}}\n"
    result = read_catalog(write(tmp_path, "catalog-info.yaml", text),
                          limits=Limits(max_substitution_bytes=3500))
    assert fields(result) == ["spec.k3", "spec.k4"]


# --- Locations ------------------------------------------------------------------------------------------

def location(*targets: str, presence: str | None = None, name: str = "loc") -> str:
    spec: dict[str, object] = {}
    if len(targets) == 1:
        spec["target"] = targets[0]
    else:
        spec["targets"] = list(targets)
    if presence:
        spec["presence"] = presence
    return json.dumps({"apiVersion": V1, "kind": "Location", "metadata": {"name": name}, "spec": spec})


def names(result: ReadResult) -> list[str]:
    return [d.entity["metadata"]["name"] for d in result.documents]


def test_location_follows_relative_target_and_glob(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", location("./teams.yaml", "./services/*/catalog-info.yaml"))
    write(tmp_path, "teams.yaml", VALID["Group"])
    write(tmp_path, "services/b/catalog-info.yaml", component("svc-b"))
    write(tmp_path, "services/a/catalog-info.yaml", component("svc-a"))
    write(tmp_path, "services/a/other.yaml", component("not-matched"))
    result = read_catalog(tmp_path / "catalog-info.yaml")
    assert result.rejections == []
    assert names(result) == ["loc", "team-a", "svc-a", "svc-b"]
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in result.files] == [
        "catalog-info.yaml", "teams.yaml", "services/a/catalog-info.yaml", "services/b/catalog-info.yaml"]


def test_location_target_relative_to_its_own_file(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", location("./org/locations.yaml"))
    write(tmp_path, "org/locations.yaml", location("../org/people/users.yaml", name="inner"))
    write(tmp_path, "org/people/users.yaml", VALID["User"])
    result = read_catalog(tmp_path / "catalog-info.yaml")
    assert result.rejections == []
    assert names(result) == ["loc", "inner", "jdoe"]


def test_location_recursive_glob(tmp_path: Path) -> None:
    write(tmp_path, "all.yaml", location("./**/catalog-info.yaml"))
    write(tmp_path, "x/y/z/catalog-info.yaml", component("deep"))
    result = read_catalog(tmp_path / "all.yaml")
    assert names(result) == ["loc", "deep"] and result.rejections == []


def test_location_cycle_terminates(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", location("./b.yaml", name="a") + "\n---\n" + component("from-a"))
    write(tmp_path, "b.yaml", location("./a.yaml", name="b"))
    result = read_catalog(tmp_path / "a.yaml")
    assert result.rejections == []
    assert names(result) == ["a", "from-a", "b"]
    assert len(result.files) == 2


def test_location_self_reference_terminates(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", location("./catalog-info.yaml", "./*.yaml"))
    result = read_catalog(tmp_path / "catalog-info.yaml")
    assert result.rejections == [] and names(result) == ["loc"]


def test_location_missing_target(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", location("./nope.yaml", "./gone/*.yaml", "./ok.yaml"))
    write(tmp_path, "ok.yaml", component("ok"))
    result = read_catalog(tmp_path / "catalog-info.yaml")
    assert names(result) == ["loc", "ok"]
    assert [(r.field, r.ref, r.document) for r in result.rejections] == [
        ("spec.targets[0]", "location:default/loc", 1), ("spec.targets[1]", "location:default/loc", 1)]
    assert "does not exist" in result.rejections[0].reason
    assert "matches no files" in result.rejections[1].reason



def test_a_legacy_location_type_says_what_to_write_instead(tmp_path: Path) -> None:
    """Old catalogs (Backstage before its `url` type) say `type: github`; the reason names the types that work
    and that a `url` target may be a URL, not the stale "local paths only"."""
    write(tmp_path, "catalog-info.yaml", """\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: legacy-org}
spec:
  type: github
  targets: [https://github.com/acme/org/blob/main/teams.yaml]
""")
    result = read_catalog(tmp_path / "catalog-info.yaml")
    assert [(r.field, r.ref) for r in result.rejections] == [("spec.type", "location:default/legacy-org")]
    reason = result.rejections[0].reason
    assert "'github'" in reason and "type: url" in reason and "local paths" not in reason

def test_location_optional_missing_target_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", location("./nope.yaml", presence="optional"))
    result = read_catalog(tmp_path / "catalog-info.yaml")
    assert result.rejections == [] and names(result) == ["loc"]


def test_location_target_escaping_root(tmp_path: Path) -> None:
    write(tmp_path, "outside.yaml", component("outside"))
    write(tmp_path, "repo/catalog-info.yaml", location("../outside.yaml"))
    result = read_catalog(tmp_path / "repo")
    assert names(result) == ["loc"]
    assert fields(result) == ["spec.target"]
    assert "outside the catalog root" in result.rejections[0].reason


def test_location_target_escaping_root_through_symlink(tmp_path: Path) -> None:
    write(tmp_path, "outside/catalog-info.yaml", component("outside"))
    (tmp_path / "repo").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "repo" / "linked")
    write(tmp_path, "repo/catalog-info.yaml", location("./linked/catalog-info.yaml", "./*/catalog-info.yaml"))
    result = read_catalog(tmp_path / "repo" / "catalog-info.yaml")
    assert names(result) == ["loc"]
    assert fields(result) == ["spec.targets[0]", "spec.targets[1]"]
    # a literal target names itself; a glob never enters the linked directory, so it matches nothing
    assert "symlink" in result.rejections[0].reason
    assert result.rejections[1].reason == "target './*/catalog-info.yaml' matches no files"


def test_location_remote_target(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", location("https://github.com/org/repo/blob/main/catalog-info.yaml"))
    result = read_catalog(tmp_path / "catalog-info.yaml")
    assert names(result) == ["loc"]
    assert fields(result) == ["spec.target"]
    assert "remote targets are not supported by local ingestion" in result.rejections[0].reason


def test_location_target_that_is_invalid_is_reported_in_its_own_file(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", location("./sub/bad.yaml"))
    write(tmp_path, "sub/bad.yaml", component("Bad Name!"))
    result = read_catalog(tmp_path / "catalog-info.yaml")
    assert [(r.file, r.field) for r in result.rejections] == [("sub/bad.yaml", "metadata.name")]


# --- discovery and root --------------------------------------------------------------------------------

def test_directory_discovery_skips_git_node_modules_and_hidden(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", component("root"))
    write(tmp_path, "b/catalog-info.yml", component("b"))
    write(tmp_path, "a/deeper/catalog-info.yaml", component("a-deeper"))
    write(tmp_path, "a/catalog-info.yaml", component("a"))
    write(tmp_path, "a/not-a-descriptor.yaml", component("ignored"))
    write(tmp_path, ".git/catalog-info.yaml", component("git"))
    write(tmp_path, "node_modules/pkg/catalog-info.yaml", component("npm"))
    write(tmp_path, ".hidden/catalog-info.yaml", component("hidden"))
    result = read_catalog(tmp_path)
    assert result.rejections == []
    assert names(result) == ["root", "a", "a-deeper", "b"]
    assert [str(p.relative_to(tmp_path.resolve())) for p in result.files] == [
        "catalog-info.yaml", "a/catalog-info.yaml", "a/deeper/catalog-info.yaml", "b/catalog-info.yml"]


def test_discovered_location_target_is_not_read_twice(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", location("./svc/catalog-info.yaml"))
    write(tmp_path, "svc/catalog-info.yaml", component("svc"))
    result = read_catalog(tmp_path)
    assert names(result) == ["loc", "svc"] and len(result.files) == 2


def test_discovered_symlink_escaping_root_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "outside/catalog-info.yaml", component("outside"))
    (tmp_path / "repo" / "x").mkdir(parents=True)
    os.symlink(tmp_path / "outside" / "catalog-info.yaml", tmp_path / "repo" / "x" / "catalog-info.yaml")
    result = read_catalog(tmp_path / "repo")
    assert result.documents == []
    assert [(r.file, r.document) for r in result.rejections] == [("x/catalog-info.yaml", None)]


def test_file_count_limit_is_reported_once(tmp_path: Path) -> None:
    for i in range(5):
        write(tmp_path, f"s{i}/catalog-info.yaml", component(f"s{i}"))
    result = read_catalog(tmp_path, limits=Limits(max_files=3))
    assert names(result) == ["s0", "s1", "s2"]
    assert [(r.file, r.document) for r in result.rejections] == [("s3/catalog-info.yaml", None)]


def test_explicit_root_and_errors(tmp_path: Path) -> None:
    write(tmp_path, "shared/openapi.yaml", "openapi: 3.0.0\n")
    path = write(tmp_path, "svc/catalog-info.yaml", _api("{$text: ../shared/openapi.yaml}"))
    result = read_catalog(path, root=tmp_path)
    assert result.rejections == [] and len(result.documents) == 1
    with pytest.raises(FileNotFoundError):
        read_catalog(tmp_path / "missing.yaml")
    with pytest.raises(ValueError):
        read_catalog(path, root=tmp_path / "shared")


def test_rejection_as_dict_and_document_type(tmp_path: Path) -> None:
    result = read_text(tmp_path, component("Bad Name!"))
    assert result.rejections[0].as_dict() == {
        "file": "catalog-info.yaml", "document": 1, "ref": "component:default/bad name!",
        "field": "metadata.name", "reason": result.rejections[0].reason}
    assert isinstance(result.rejections[0], Rejection)
    ok = read_text(tmp_path, component("good"))
    assert isinstance(ok.documents[0], Document)
    with pytest.raises(Exception):
        ok.documents[0].index = 2  # type: ignore[misc]


# --- both YAML back ends enforce the same limits --------------------------------------------------------

LOADERS = [yaml_loader.PyCatalogLoader, yaml_loader.CatalogLoader]


def _bomb(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghijk"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
def test_loader_backends_agree(loader: type) -> None:
    def run(text: str, **limits: int) -> list:
        return list(yaml_loader.load_documents(text, Limits(**limits), loader))

    start = time.monotonic()
    out = run(_bomb() + "---\nok: 1\n")
    assert time.monotonic() - start < 1.0
    assert isinstance(out[0], yaml_loader.LoadFailure) and "alias" in out[0].reason
    assert out[1] == yaml_loader.LoadedDocument(2, {"ok": 1})
    out = run("a: " + "[" * 5000 + "]" * 5000)
    assert out[0].index == 1 and "nests deeper" in out[0].reason
    out = run("x: &x 1\nl: [" + ", ".join(["*x"] * 20) + "]\n", max_aliases=10)
    assert "more than 10 YAML aliases" in out[0].reason
    out = run("a: 1\n---\nb: [\n")
    assert out[0] == yaml_loader.LoadedDocument(1, {"a": 1})
    assert out[1].index == 2 and out[1].reason.startswith("malformed YAML at line")
    out = run("a: &a [*a]\n")
    assert "recursive" in out[0].reason
    out = run("a: yes\nb: 0755\nc: 0x10\nd: ~\ne: 1e3\nf: TRUE\ng: <<\n")
    assert out[0].data == {"a": "yes", "b": 755, "c": 16, "d": None, "e": 1000.0, "f": True, "g": "<<"}
    out = run("k: \x07\n")
    assert out[0].index is None and "control character" in out[0].reason


def test_location_glob_with_several_double_stars_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\n"
        "spec: {targets: ['./**/**/catalog-info.yaml']}\n")
    result = read_catalog(tmp_path)
    assert [(r.field, "more than once" in r.reason) for r in result.rejections] == [("spec.targets[0]", True)]


def test_json_substitution_with_an_enormous_integer_is_a_rejection(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text("1" + "0" * 5000)
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: a}\n"
        "spec: {type: openapi, lifecycle: production, owner: t, definition: {$json: ./big.json}}\n")
    result = read_catalog(tmp_path)
    assert result.documents == [] and result.rejections[0].field == "spec.definition"
