"""Repository facts (default branch, last commit, CODEOWNERS) as `:Repository` nodes, not entity properties.

`(entity)-[:IN_REPOSITORY {path, codeowners, codeowners_disagree}]->(:Repository {key})`: the entity's
declared `spec.owner` stays the truth; CODEOWNERS owners are kept beside it on the link so a disagreement can
be reported without overriding anything. The git provider writes them after its ingest run; a source's
links are replaced on each run and repositories nobody links to any more are deleted.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from graph.driver import Graph


def record_repository(graph: "Graph", repo: dict, links: Sequence[dict], *, source: str) -> None:
    """Store one repository's facts and link the entities found in it.

    repo: {key, url, default_branch, last_commit_at (ms), last_commit}; links: [{ref, path, codeowners,
    codeowners_disagree}]. Links of `source` to this repository that are not in `links` are dropped.
    """
    graph.write(
        "MERGE (r:Repository {key: $repo.key}) SET r += $repo, r.source = $source, r.updated_at = timestamp()",
        repo=repo, source=source,
    )
    graph.write(
        "MATCH (r:Repository {key: $key}) "
        "UNWIND $links AS link "
        "MATCH (e:Entity {ref: link.ref}) "
        "MERGE (e)-[l:IN_REPOSITORY]->(r) "
        "SET l.path = link.path, l.codeowners = link.codeowners, l.codeowners_disagree = link.codeowners_disagree, "
        "l.source = $source",
        key=repo["key"], links=list(links), source=source,
    )
    graph.write(
        "MATCH (e:Entity)-[l:IN_REPOSITORY {source: $source}]->(r:Repository {key: $key}) "
        "WHERE NOT e.ref IN $refs DELETE l",
        key=repo["key"], refs=[link["ref"] for link in links], source=source,
    )
    graph.write(
        "MATCH (r:Repository {source: $source}) WHERE NOT (r)<-[:IN_REPOSITORY]-() DETACH DELETE r",
        source=source,
    )


def repository_of(graph: "Graph", ref: str) -> dict | None:
    """The repository an entity lives in, with its CODEOWNERS view of it (None when unknown)."""
    rows = graph.read(
        "MATCH (e:Entity {ref: $ref})-[l:IN_REPOSITORY]->(r:Repository) "
        "RETURN properties(r) AS repo, properties(l) AS link, e.owner AS owner LIMIT 1",
        ref=ref,
    )
    if not rows:
        return None
    row = rows[0]
    return {**row["repo"], "path": row["link"].get("path"), "codeowners": row["link"].get("codeowners") or [],
            "codeowners_disagree": bool(row["link"].get("codeowners_disagree")), "owner": row["owner"]}


def codeowner_disagreements(graph: "Graph", *, limit: int = 500) -> list[dict]:
    """Entities whose CODEOWNERS owners do not include their declared spec.owner (reported, not fixed)."""
    rows = graph.read(
        "MATCH (e:Entity)-[l:IN_REPOSITORY {codeowners_disagree: true}]->(r:Repository) "
        "RETURN e.ref AS ref, e.owner AS owner, l.codeowners AS codeowners, l.path AS path, r.key AS repository "
        "ORDER BY ref LIMIT $limit",
        limit=limit,
    )
    return [dict(r) for r in rows]


def declared_owners(graph: "Graph", refs: list[str]) -> dict[str, str | None]:
    """Each entity's declared owner ref (spec.owner as stored), to compare with CODEOWNERS."""
    rows = graph.read("UNWIND $refs AS ref MATCH (e:Entity {ref: ref}) RETURN e.ref AS ref, e.owner AS owner",
                      refs=refs)
    return {r["ref"]: r["owner"] for r in rows}
