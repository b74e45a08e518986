"""The synthetic catalog generator (benchmarks/synthetic.py): shape, resolvable refs, valid names. No Neo4j."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml

from benchmarks.synthetic import generate, mutate

NAME = re.compile(r"^[a-zA-Z0-9]+([-_.][a-zA-Z0-9]+)*$")

# field -> default kind (None: the kind must be written)
FIELDS = {
    "owner": "group", "system": "system", "domain": "domain", "subcomponentOf": "component",
    "subdomainOf": "domain", "providesApis": "api", "consumesApis": "api", "dependsOn": None,
    "dependencyOf": None, "parent": "group", "children": "group", "memberOf": "group", "members": "user",
}


def parse_ref(ref: str, default_kind: str | None, namespace: str) -> str:
    kind = default_kind
    if ":" in ref:
        kind, ref = ref.split(":", 1)
    if "/" in ref:
        namespace, ref = ref.split("/", 1)
    assert kind, f"ref {ref!r} needs an explicit kind"
    return f"{kind}:{namespace}/{ref}".lower()


def load(root: Path) -> tuple[dict[str, dict], list[Path]]:
    """Follow Location targets from the root file, like an ingest would."""
    entities: dict[str, dict] = {}
    files: list[Path] = []
    pending = [root / "catalog-info.yaml"]
    while pending:
        path = pending.pop()
        files.append(path)
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            ns = doc["metadata"].get("namespace", "default")
            ref = f"{doc['kind']}:{ns}/{doc['metadata']['name']}".lower()
            assert ref not in entities, f"duplicate {ref}"
            entities[ref] = doc
            if doc["kind"] == "Location":
                for target in doc["spec"]["targets"]:
                    target_path = (path.parent / target).resolve()
                    assert target_path.is_file(), target
                    pending.append(target_path)
    return entities, files


def test_generate_2000(tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    summary = generate(out, 2000, seed=42)
    entities, files = load(out)

    # every written file is reachable from the root Location, and the summary tells the truth
    assert sorted(files) == sorted(p.resolve() for p in out.rglob("*.yaml"))
    assert summary["files"] == len(files)
    assert summary["entities"] == len(entities) == 2000
    kinds = Counter(doc["kind"] for doc in entities.values())
    assert dict(kinds) == summary["by_kind"]
    assert set(kinds) == {"Component", "API", "Resource", "System", "Domain", "Group", "User", "Location"}
    assert 0.45 <= kinds["Component"] / 2000 <= 0.65
    assert 0.12 <= kinds["User"] / 2000 <= 0.18
    assert 0.08 <= kinds["API"] / 2000 <= 0.15
    assert 0.08 <= kinds["Resource"] / 2000 <= 0.15
    assert 15 <= kinds["System"] <= 25
    assert max(len(list(yaml.safe_load_all(p.read_text()))) for p in files) <= 500

    # names follow Backstage's rule; every ref in a relation field resolves
    edges: set[tuple[str, str, str]] = set()
    for ref, doc in entities.items():
        name = doc["metadata"]["name"]
        assert NAME.match(name) and len(name) <= 63, name
        assert doc["apiVersion"] == "backstage.io/v1alpha1"
        if doc["kind"] == "Location":
            continue
        ns = doc["metadata"].get("namespace", "default")
        for field, default_kind in FIELDS.items():
            value = doc["spec"].get(field)
            if value is None:
                continue
            for target in value if isinstance(value, list) else [value]:
                target_ref = parse_ref(target, default_kind, ns)
                assert target_ref in entities, f"{ref} {field} -> {target_ref} does not resolve"
                if field == "dependencyOf":
                    edges.add((target_ref, "dependsOn", ref))
                elif field == "children":
                    edges.add((target_ref, "childOf", ref))
                elif field == "parent":
                    edges.add((ref, "childOf", target_ref))
                else:
                    edges.add((ref, field, target_ref))
        if doc["kind"] == "Component":
            assert doc["spec"]["lifecycle"] and doc["spec"]["owner"] and doc["spec"]["type"]
        if doc["kind"] == "Group":
            assert "children" in doc["spec"]
        if doc["kind"] == "User":
            assert 1 <= len(doc["spec"]["memberOf"]) <= 2

    # group parent/children agree, so each pair is one edge; relation count matches the summary
    assert len(edges) == summary["relations"]
    assert 3.5 <= summary["relations"] / 2000 <= 5.5
    deps = Counter(src for src, rel, dst in edges if rel == "dependsOn" and src.startswith("component:"))
    assert all(2 <= deps[r] for r, d in entities.items() if d["kind"] == "Component")


def test_deterministic_and_mutate(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, 1000, seed=3)
    generate(b, 1000, seed=3)
    files_a = {p.relative_to(a): p.read_bytes() for p in a.rglob("*.yaml")}
    assert files_a == {p.relative_to(b): p.read_bytes() for p in b.rglob("*.yaml")}

    changed = mutate(a, 0.25, seed=1)
    assert changed["files"] >= 1 and changed["entities"] >= changed["files"]
    before, _ = load(b)
    after, _ = load(a)
    assert set(before) == set(after)
    differing = [r for r in before if before[r] != after[r]]
    assert len(differing) == changed["entities"]
    for ref in differing:
        assert before[ref]["spec"] == after[ref]["spec"]
        assert before[ref]["metadata"]["description"] != after[ref]["metadata"]["description"]
