"""The compiled schema check (ingest/descriptors/schema_check.py) agrees with jsonschema on every document.

It is the fast path of validation: a document it passes is accepted without jsonschema. So for every schema
and every mutated document below, "passes the check" must equal "jsonschema finds no error"; a check more
lenient than jsonschema would let an invalid entity land, a stricter one would only cost time but is still
reported here.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest

from ingest.descriptors.schema_check import compile_check
from ingest.descriptors.validation import BUILTIN_KINDS, _validator, validate_entity

SCHEMAS = ["envelope", *(k.lower() for k in BUILTIN_KINDS)]

BASE_DOCUMENTS: list[dict] = [
    {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
     "metadata": {"name": "orders-api", "namespace": "shop", "title": "Orders", "description": "Takes orders",
                  "labels": {"acme.io/tier": "gold", "team": ""}, "annotations": {"github.com/project-slug": "a/b"},
                  "tags": ["java", "c++"], "links": [{"url": "https://x.example", "title": "Runbook"}],
                  "uid": "u-1", "etag": "e1"},
     "spec": {"type": "service", "lifecycle": "production", "owner": "group:team-a", "system": "shop",
              "subcomponentOf": "component:platform", "providesApis": ["api:orders"],
              "consumesApis": ["api:billing"], "dependsOn": ["resource:orders-db"], "dependencyOf": []}},
    {"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": {"name": "orders"},
     "spec": {"type": "openapi", "lifecycle": "production", "owner": "team-a", "system": "shop",
              "definition": "openapi: 3.0.3\n"}},
    {"apiVersion": "backstage.io/v1alpha1", "kind": "Resource", "metadata": {"name": "orders-db"},
     "spec": {"type": "database", "owner": "team-a", "system": "shop", "dependsOn": [], "dependencyOf": []}},
    {"apiVersion": "backstage.io/v1alpha1", "kind": "System", "metadata": {"name": "shop"},
     "spec": {"owner": "team-a", "domain": "commerce"}},
    {"apiVersion": "backstage.io/v1alpha1", "kind": "Domain", "metadata": {"name": "commerce"},
     "spec": {"owner": "team-a", "subdomainOf": "business"}},
    {"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": "team-a"},
     "spec": {"type": "team", "profile": {"displayName": "Team A", "email": "a@x.example"},
              "parent": "acme", "children": ["team-b"], "members": ["alice"]}},
    {"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": {"name": "alice"},
     "spec": {"profile": {"displayName": "Alice", "picture": "https://x.example/a.png"}, "memberOf": ["team-a"]}},
    {"apiVersion": "backstage.io/v1alpha1", "kind": "Location", "metadata": {"name": "more"},
     "spec": {"type": "url", "targets": ["./a/catalog-info.yaml", "./b/catalog-info.yaml"], "presence": "optional"}},
    {"apiVersion": "backstage.io/v1alpha1", "kind": "Location", "metadata": {"name": "one"},
     "spec": {"target": "./a/catalog-info.yaml"}},
    {"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template", "metadata": {"name": "service"},
     "spec": {"type": "service", "owner": "team-a", "parameters": [{"title": "Name", "properties": {}}],
              "steps": [{"id": "fetch", "name": "Fetch", "action": "fetch:template", "input": {"url": "./s"}}],
              "output": {"links": []}}},
    {"apiVersion": "acme.io/v1", "kind": "Pipeline", "metadata": {"name": "build"}, "spec": {"anything": [1, 2]}},
]

# Values each position is replaced by: every JSON type, edge strings for the patterns and lengths.
PROBES: list[Any] = [
    None, True, False, 0, 1, 1.0, 1.5, -3, "", "x", "a\n", "Bad Name!", "-lead", "trail-", "a" * 63, "a" * 64,
    "ok.name_1", "UPPER", "backstage.io/v1alpha1", "backstage.io/v1beta1", "group:team-a", "required",
    "optional", "api:orders", [], ["x"], [""], [1], [None], [{}], {}, {"a": 1}, {"url": "u"}, {"url": ""},
    {"action": "x"}, {"action": ""}, "١٢٣", "é" * 63, "é" * 64,
]
KEY_PROBES = ["ok", "acme.io/tier", "Bad Key!", "a/b/c", "-x", "x" * 64, "", "tier\n", "acme.io/" + "k" * 63]


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*path, i))


def _replace(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


def _delete(doc: dict, path: tuple) -> dict:
    out = copy.deepcopy(doc)
    node = out
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return out


def _mutations(doc: dict) -> Iterator[Any]:
    yield doc
    for path in _paths(doc):
        for probe in PROBES:
            yield _replace(doc, path, probe)
        if path:
            yield _delete(doc, path)
        node = doc
        for step in path:
            node = node[step]
        if isinstance(node, dict):
            for key in KEY_PROBES:
                for probe in ("v", "", 1, "Bad Value!"):
                    yield _replace(doc, path, {**node, key: probe})
    for kind in ("component", "API", "Location", "Template", "Custom"):
        yield {**doc, "kind": kind}


def _documents() -> Iterator[Any]:
    for doc in BASE_DOCUMENTS:
        yield from _mutations(doc)


def test_every_schema_compiles_to_a_check() -> None:
    """Otherwise the fast path is silently off for that kind."""
    assert all(compile_check(_validator(name).schema) is not None for name in SCHEMAS)


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_check_agrees_with_jsonschema_on_mutated_documents(name: str) -> None:
    validator = _validator(name)
    check = compile_check(validator.schema)
    checked = disagreements = 0
    shown = []
    for doc in _documents():
        expected = not any(True for _ in validator.iter_errors(doc))
        checked += 1
        if check(doc) != expected:
            disagreements += 1
            shown.append((doc, expected))
    assert checked > 2000
    assert disagreements == 0, shown[:3]


def test_rejections_read_exactly_as_jsonschema_words_them() -> None:
    """The check only decides whether jsonschema runs; an invalid document's problems are jsonschema's."""
    doc = copy.deepcopy(BASE_DOCUMENTS[0])
    doc["metadata"]["name"] = "Bad Name!"
    doc["spec"]["owner"] = ""
    del doc["spec"]["lifecycle"]
    _, problems = validate_entity(doc)
    assert [(p.field, p.reason) for p in problems] == [
        ("metadata.name", "metadata.name 'Bad Name!' must be 1-63 characters of letters, digits and -_. "
                          "starting and ending with a letter or digit"),
        ("spec.owner", "spec.owner must not be empty"),
        ("spec.lifecycle", "spec.lifecycle is required"),
    ]
