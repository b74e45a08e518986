"""A catalog spread over many files, written in tiny batches: every guarantee holds across batch boundaries.

Read in parallel processes (more files than the reader's PARALLEL_MIN_FILES), with the YAML fast path for
plain files and the full loader for a file using anchors, the compiled schema check for valid documents and
jsonschema's wording for invalid ones, and NODE_BATCH / REL_BATCH so small that every entity and relation
write spans many batches: invalid documents are reported with file, document, field and reason while every
valid one lands; the first claimant of a ref keeps it; re-ingesting unchanged writes nothing; what
disappeared is cleaned up; the removal guard stops a mass deletion before anything is written.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from graph import write as graph_write
from ingest.descriptors.reader import _Reader
from ingest.sync import IngestError, ingest

FILES = 24
PER_FILE = 3


def component(name: str, *, depends: list[str] = (), extra: str = "") -> str:
    deps = f", dependsOn: [{', '.join(depends)}]" if depends else ""
    return textwrap.dedent(f"""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {{name: {name}}}
        spec: {{type: service, lifecycle: production, owner: team-{name[:2]}{deps}{extra}}}
        """)


def write_catalog(root: Path) -> None:
    """FILES folders of PER_FILE components each; component i depends on i-1 and i-7 (across files)."""
    for f in range(FILES):
        docs = []
        for k in range(PER_FILE):
            i = f * PER_FILE + k
            depends = [f"component:c{j:03d}" for j in (i - 1, i - 7) if j >= 0]
            docs.append(component(f"c{i:03d}", depends=depends))
        if f == 5:    # an invalid document among valid ones
            docs[1] = docs[1].replace("lifecycle: production, ", "")
        if f == 9:    # a ref declared again in a later file: the earlier file keeps it
            docs.append(component("c001", extra=", system: other"))
        if f == 13:   # a number JSON cannot store
            docs[2] = component("c041", extra=", weight: .inf")
        if f == 17:   # a ref another location owns
            docs.append(component("elsewhere-owned"))
        text = "---\n".join(docs)
        if f == 20:   # anchors: this file goes through the full loader
            text += "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: anchored}\n" \
                    "spec: &s {type: service, lifecycle: production, owner: team-an}\n"
        path = root / f"team-{f:02d}" / "catalog-info.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def count(graph, query: str) -> int:
    return graph.read(query)[0]["c"]


@pytest.fixture
def tiny_batches(monkeypatch):
    monkeypatch.setattr(graph_write, "NODE_BATCH", 4)
    monkeypatch.setattr(graph_write, "REL_BATCH", 5)
    assert FILES >= _Reader.PARALLEL_MIN_FILES   # the files are read by worker processes


def test_every_guarantee_holds_across_batch_boundaries(graph, tmp_path, tiny_batches):
    other = tmp_path / "other"
    other.mkdir()
    (other / "catalog-info.yaml").write_text(component("elsewhere-owned"))
    assert ingest(graph, str(other)).added == 1

    root = tmp_path / "catalog"
    write_catalog(root)
    first = ingest(graph, str(root))

    entities = FILES * PER_FILE - 2 + 1    # minus the invalid and the non-finite documents, plus `anchored`
    assert first.added == entities
    assert sorted((r["file"], r["document"], r["ref"], r["field"], r["reason"]) for r in first.rejected) == [
        ("team-05/catalog-info.yaml", 2, "component:default/c016", "spec.lifecycle", "spec.lifecycle is required"),
        ("team-13/catalog-info.yaml", 3, "component:default/c041", "spec.weight",
         "spec.weight is not a finite number (.inf and .nan cannot be stored as JSON)"),
    ]
    assert sorted((c["ref"], c["file"], c["document"]) for c in first.conflicts) == [
        ("component:default/c001", "team-09/catalog-info.yaml", 4),
        ("component:default/elsewhere-owned", "team-17/catalog-info.yaml", None),
    ]
    source = f"file:{root.resolve()}"
    assert count(graph, f"MATCH (n:Entity {{source: '{source}'}}) RETURN count(n) AS c") == entities
    # The earlier file's c001 won: no system relation from the later declaration.
    assert graph.read("MATCH (n:Entity {ref: 'component:default/c001'}) RETURN n.system AS s")[0]["s"] is None
    assert graph.read("MATCH (n:Entity {ref: 'component:default/elsewhere-owned'}) RETURN n.source AS s"
                      )[0]["s"] == f"file:{other.resolve()}"
    # Every declared dependency is a relationship, to an entity or to a placeholder (c016, c041 rejected).
    declared = sum(len([j for j in (i - 1, i - 7) if j >= 0]) for i in range(FILES * PER_FILE)
                   if i not in (16, 41))
    assert count(graph, "MATCH (:Entity)-[r:DEPENDS_ON]->(:Entity) RETURN count(r) AS c") == declared
    assert count(graph, "MATCH (n:Unresolved) WHERE n.ref STARTS WITH 'component:' RETURN count(n) AS c") == 2
    assert count(graph, "MATCH (:Entity)-[r:OWNED_BY]->(:Entity) RETURN count(r) AS c") == entities + 1

    again = ingest(graph, str(root))
    assert (again.added, again.updated, again.removed) == (0, 0, 0)
    assert again.unchanged == entities

    # Two files disappear: their six entities go, their relations with them; nothing else changes.
    for f in (2, 3):
        (root / f"team-{f:02d}" / "catalog-info.yaml").unlink()
    removed = ingest(graph, str(root))
    assert (removed.added, removed.updated, removed.removed) == (0, 0, 2 * PER_FILE)
    assert count(graph, f"MATCH (n:Entity {{source: '{source}'}}) RETURN count(n) AS c") == entities - 6
    # c006..c011 are gone; those still pointed at (by c012, c013, ... through dependsOn) are placeholders again.
    gone = [f"component:default/c{i:03d}" for i in range(6, 12)]
    assert count(graph, f"MATCH (n:Entity) WHERE n.ref IN {gone} AND NOT n:Unresolved RETURN count(n) AS c") == 0

    # Most of the rest disappears at once: the guard refuses before writing anything.
    for f in range(4, FILES):
        (root / f"team-{f:02d}" / "catalog-info.yaml").unlink()
    before = count(graph, f"MATCH (n:Entity {{source: '{source}'}}) RETURN count(n) AS c")
    with pytest.raises(IngestError, match="refusing to remove"):
        ingest(graph, str(root))
    assert count(graph, f"MATCH (n:Entity {{source: '{source}'}}) RETURN count(n) AS c") == before
