"""Entities in Backstage's JSON shape, served from the descriptor stored on each node.

Why: an entity page must cost one round trip (Backstage serves a precomputed document per entity; so do
we): the node carries the descriptor JSON, and the relations (both directions) and processing warnings come
back in the same query as a pattern comprehension.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from graph import versioned
from graph.model import RELATION_NAMES, RELATION_TYPES
from graph.visibility import EVERYTHING, Visibility

if TYPE_CHECKING:
    from graph.driver import Graph

_UID_NAMESPACE = uuid.UUID("6f1c7d2e-5b0a-4f55-9a59-3c1d1a7e0b61")   # fixed forever: uids must stay stable



def entity_columns(visibility: Visibility = EVERYTHING) -> str:
    """The columns every entity read returns (`n` bound to a resolved entity node).

    Relations to entities the reader may not read are left out (their refs can be sensitive too); the
    query using these columns must pass `visibility.params()`.
    """
    other = "" if visibility.everything else f" AND {visibility.predicate('m')}"
    return (
        "n.ref AS ref, n.descriptor AS descriptor, n.hash AS hash, "
        f"[(n)-[r]-(m) WHERE type(r) IN $rel_types{other} | "
        "[type(r), startNode(r) = n, m.ref, m:Unresolved AND n.ref IN coalesce(r.by, []), r.via]] AS rels"
    )


ENTITY_COLUMNS = entity_columns()


def entity_uid(ref: str) -> str:
    """A stable uuid5 of the canonical ref (Backstage entities carry a metadata.uid)."""
    return str(uuid.uuid5(_UID_NAMESPACE, ref))


def get_entity(graph: "Graph", ref: str, visibility: Visibility = EVERYTHING) -> dict | None:
    """One entity by canonical ref; None for unknown refs, unresolved placeholders and unreadable entities.

    Served from the entity's ready document (`_documents`) while the catalog version stands; the reader's
    visibility is applied to it on every call, to the entity and to each related entity alike."""
    return get_entities(graph, [ref], visibility)[0]


def get_entities(graph: "Graph", refs: list[str], visibility: Visibility = EVERYTHING) -> list[dict | None]:
    """Entities for canonical refs, same order and length, None where missing, unresolved or unreadable.

    Why one function for one entity, a list page and Backstage's by-refs: each entity is served from its ready
    document, and the documents not cached yet are read in ONE round trip, so a page of 50 costs the page
    query plus at most one more, and nothing once its documents are warm."""
    version = versioned.catalog_version(graph)
    if version is None:   # a fresh or wiped database: nothing to key a document on
        query = (f"MATCH (n:Entity) WHERE n.ref IN $refs AND NOT n:Unresolved AND {visibility.predicate('n')} "
                 f"RETURN {entity_columns(visibility)}")
        found = {r["ref"]: r for r in graph.read(query, refs=list(set(refs)), rel_types=list(RELATION_TYPES),
                                                 **visibility.params())}
        return [to_entity(found[ref]) if ref in found else None for ref in refs]
    documents = versioned.cached_many(graph, version, list(dict.fromkeys(refs)),
                                      lambda missing: _documents_of(graph, missing),
                                      store=_documents, limit=DOCUMENTS_KEPT)
    return [_served(documents[ref], visibility) for ref in refs]


def _served(document: "_Document | None", visibility: Visibility) -> dict | None:
    """The reader's view of a ready document: None when the entity is unreadable, relations to entities the
    reader may not read left out (the same rule as `Visibility.predicate`, applied in Python)."""
    if document is None or not visibility.can_read(document.facts):
        return None
    rels = [rel[:5] for rel in document.rels if visibility.can_read(rel[5])]
    return to_entity({"ref": document.ref, "descriptor": document.descriptor, "hash": document.hash,
                      "rels": rels})


# Ready-to-serve documents, one per entity (as Backstage keeps a final entity per row): everything the
# entity's JSON needs, with the access facts (kind, owner, restricted) of the entity and of every related
# entity, so that each reader's visibility is applied in Python by the same rule as `Visibility.predicate`.
# Keyed on the catalog version: every ingest write bumps it, and each process re-reads it at least every
# half second (graph.versioned), so a document never outlives the state it was read from by more than that.
DOCUMENTS_KEPT = 20_000
_documents = versioned.new_store()
_DOCUMENTS_QUERY = (
    "UNWIND $refs AS ref MATCH (n:Entity {ref: ref}) WHERE NOT n:Unresolved "
    "RETURN n.ref AS ref, n.descriptor AS descriptor, n.hash AS hash, "
    "n.kind AS kind, n.owner AS owner, coalesce(n.restricted, false) AS restricted, "
    "[(n)-[r]-(m) WHERE type(r) IN $rel_types | "
    "[type(r), startNode(r) = n, m.ref, m:Unresolved AND n.ref IN coalesce(r.by, []), r.via, "
    "m.kind, m.owner, coalesce(m.restricted, false)]] AS rels"
)


@dataclass(frozen=True)
class _Document:
    ref: str
    descriptor: str
    hash: str | None
    facts: dict          # kind / owner / restricted of the entity
    rels: tuple          # (type, outgoing, other ref, dangling, via, facts of the other end)


def _documents_of(graph: "Graph", refs: list[str]) -> dict[str, _Document]:
    """The ready documents of `refs` (resolved entities only), in one round trip."""
    out = {}
    for row in graph.read(_DOCUMENTS_QUERY, refs=refs, rel_types=list(RELATION_TYPES)):
        rels = tuple((t, outgoing, other, dangling, via, {"kind": kind, "owner": owner, "restricted": restricted})
                     for t, outgoing, other, dangling, via, kind, owner, restricted in row["rels"])
        out[row["ref"]] = _Document(row["ref"], row["descriptor"], row["hash"],
                                    {"kind": row["kind"], "owner": row["owner"], "restricted": row["restricted"]},
                                    rels)
    return out


def get_entities_by_refs(graph: "Graph", refs: list[str], visibility: Visibility = EVERYTHING) -> list[dict | None]:
    """Entities for refs, same order and length, None where missing or unreadable (Backstage's POST by-refs)."""
    return get_entities(graph, refs, visibility) if refs else []


def access_facts(graph: "Graph", ref: str) -> dict | None:
    """What the access policy needs to know about an entity (kind, owner, restricted), without reading it."""
    rows = graph.read("MATCH (n:Entity {ref: $ref}) RETURN n.ref AS ref, n.kind AS kind, n.owner AS owner, "
                      "coalesce(n.restricted, false) AS restricted, n:Unresolved AS unresolved", ref=ref)
    return dict(rows[0]) if rows else None


def to_entity(record) -> dict:
    """Build the Backstage document from one row of ENTITY_COLUMNS."""
    entity = orjson.loads(record["descriptor"])
    ref = record["ref"]
    metadata = entity.setdefault("metadata", {})
    metadata["uid"] = entity_uid(ref)
    metadata["etag"] = record["hash"]
    relations: set[tuple[str, str]] = set()
    problems: set[tuple[str, str]] = set()
    for rel_type, outgoing, other, dangling, via in record["rels"]:
        forward, inverse = RELATION_NAMES[rel_type]
        relations.add((forward if outgoing else inverse, other))
        if other == ref:   # a self-loop is seen from both of its ends
            relations.update({(forward, other), (inverse, other)})
        if dangling:
            problems.add((via or (forward if outgoing else inverse), other))
    entity["relations"] = [{"type": t, "targetRef": target} for t, target in sorted(relations)]
    entity["status"] = {"items": [
        {"type": "backstage.io/catalog-processing", "level": "warning",
         "message": f"spec.{field} refers to {target}, which is not in the catalog"}
        for field, target in sorted(problems)
    ]}
    return entity


def entity_source(graph: "Graph", ref: str) -> str | None:
    """The key of the location or provider source that owns the entity (None for placeholders)."""
    rows = graph.read("MATCH (n:Entity {ref: $ref}) RETURN n.source AS source", ref=ref)
    return rows[0]["source"] if rows else None
