"""Ownership report: what each group owns directly and through its sub-groups, what nobody owns, and refs
that point at entities the catalog does not have.

The group tree is small even in large catalogs (thousands of groups at most), so it is read once and the
transitive roll-up is done here; the entity reads are three flat queries.

Visibility: a reader sees the rows of the groups they may read, and only entities they may read in them.
The roll-up still walks through hidden groups (a visible team's total includes what its visible sub-teams
own, whatever lies between), but a hidden group is never named: not as a row, a parent, an owner, nor as
the scope of a report; everything left out is counted in `totals.hidden`.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from graph.csv_export import csv_text
from graph.model import OWNABLE_KINDS, RELATION_NAMES
from graph.visibility import EVERYTHING, Visibility

if TYPE_CHECKING:
    from graph.driver import Graph

_GROUPS = """
MATCH (g:Group) WHERE NOT g:Unresolved
OPTIONAL MATCH (g)-[:CHILD_OF]->(p:Group)
RETURN g.ref AS ref, g.title AS title, g.type AS type, collect(DISTINCT p.ref) AS parents,
       g.kind AS kind, g.owner AS owner, coalesce(g.restricted, false) AS restricted
"""
HIDDEN_GROUP = "(a group you cannot see)"
_OWNED = """
MATCH (e:Entity)-[:OWNED_BY]->(o:Entity)
WHERE NOT e:Unresolved AND NOT o:Unresolved
RETURN DISTINCT e.ref AS ref, e.kind AS kind, o.ref AS owner, coalesce(e.restricted, false) AS restricted
"""
_UNOWNED = """
MATCH (e:Entity) WHERE e.kind IN $kinds AND NOT e:Unresolved
  AND NOT EXISTS { (e)-[:OWNED_BY]->(o) WHERE NOT o:Unresolved }
RETURN e.ref AS ref, e.kind AS kind, e.owner AS owner, coalesce(e.restricted, false) AS restricted
ORDER BY ref
"""
_DANGLING = """
MATCH (a:Entity)-[r]-(p:Unresolved) WHERE a.ref IN r.by AND NOT a:Unresolved
RETURN a.ref AS ref, type(r) AS type, startNode(r) = a AS outgoing, r.via AS via, p.ref AS target,
       a.kind AS kind, a.owner AS owner, coalesce(a.restricted, false) AS restricted
ORDER BY ref, target
"""


def ownership_report(graph: "Graph", group: str | None = None, visibility: Visibility = EVERYTHING) -> dict:
    """The report as plain data; `group` limits it to that group and its sub-groups.

    Entities `visibility` may not read are left out and counted in `totals.hidden`, so the report never
    looks complete when it is not."""
    hidden: set[str] = set()

    def readable(row) -> bool:
        if visibility.can_read(row):
            return True
        hidden.add(row["ref"])
        return False

    groups = {r["ref"]: dict(r) for r in graph.read(_GROUPS)}
    shown = {ref for ref, g in groups.items() if readable(g)}
    if group is not None and group not in shown:   # hidden or missing: one answer for both
        raise LookupError(f"{group} is not a group in the catalog")
    children: dict[str, list[str]] = defaultdict(list)
    for ref, g in groups.items():
        for parent in g["parents"]:
            children[parent].append(ref)

    def named(ref: str | None) -> str | None:
        """A group ref as the reader may see it: hidden groups are masked, other refs pass."""
        return HIDDEN_GROUP if ref in groups and ref not in shown else ref

    owned_by: dict[str, list[dict]] = defaultdict(list)
    hidden_owned: dict[str, set[str]] = defaultdict(set)
    for r in graph.read(_OWNED):
        if not visibility.can_read(r):
            hidden_owned[r["owner"]].add(r["ref"])
            continue
        owned_by[r["owner"]].append({"ref": r["ref"], "kind": r["kind"], "owner": named(r["owner"])})
    if group:   # what is hidden within the scope: its hidden sub-groups and what its sub-groups own
        scope = _subtree(group, children)
        hidden &= scope
        hidden.update(ref for owner in scope for ref in hidden_owned.get(owner, ()))
    else:
        hidden.update(ref for refs in hidden_owned.values() for ref in refs)

    top = [group] if group else sorted(r for r, g in groups.items() if not set(g["parents"]) & groups.keys())
    rows = []
    for ref, level in _tree_order(top, children, groups.keys(), shown):
        subtree = _subtree(ref, children)
        direct = owned_by.get(ref, [])
        via = [dict(e, direct=False) for sub in sorted(subtree - {ref}) for e in owned_by.get(sub, [])]
        entities = [dict(e, direct=True) for e in direct] + via
        rows.append({
            "group": ref,
            "title": groups[ref]["title"],
            "type": groups[ref]["type"],
            "parents": [p for p in groups[ref]["parents"] if p in shown],
            "level": level,
            "direct_count": len(direct),
            "total_count": len(entities),
            "direct": dict(sorted(Counter(e["kind"] for e in direct).items())),
            "total": dict(sorted(Counter(e["kind"] for e in entities).items())),
            "entities": sorted(entities, key=lambda e: (not e["direct"], e["ref"])),
        })

    in_scope_entities = {e["ref"] for g in rows for e in g["entities"]}
    unowned = [] if group else [
        {"ref": r["ref"], "kind": r["kind"], "owner": r["owner"], "reason": _unowned_reason(r["owner"])}
        for r in graph.read(_UNOWNED, kinds=list(OWNABLE_KINDS)) if readable(r)
    ]
    dangling = []
    for r in graph.read(_DANGLING):
        if (group and r["ref"] not in in_scope_entities) or not readable(r):
            continue
        forward, inverse = RELATION_NAMES[r["type"]]
        dangling.append({
            "from": r["ref"], "field": f"spec.{r['via']}" if r["via"] else None,
            "relation": forward if r["outgoing"] else inverse, "to": r["target"],
        })
    return {
        "scope": group,
        "groups": rows,
        "unowned": unowned,
        "dangling": dangling,
        "totals": {"groups": len(rows), "unowned": len(unowned), "dangling": len(dangling),
                   "hidden": len(hidden)},
    }


def report_csv(report: dict) -> str:
    """One CSV a spreadsheet can filter: a row per (group, owned entity), then unowned, then dangling."""
    rows: list[list[object]] = [["category", "group", "entity", "kind", "owner", "detail"]]
    for g in report["groups"]:
        for e in g["entities"]:
            rows.append(["owned", g["group"], e["ref"], e["kind"], e["owner"],
                         "direct" if e["direct"] else "via sub-group"])
    for e in report["unowned"]:
        rows.append(["unowned", "", e["ref"], e["kind"], e["owner"] or "", e["reason"]])
    for d in report["dangling"]:
        rows.append(["dangling", "", d["from"], d["from"].split(":", 1)[0], "",
                     f"{d['field'] or d['relation']} -> {d['to']} (not in the catalog)"])
    hidden = report["totals"].get("hidden", 0)
    if hidden:   # an export must not look complete when it is not
        rows.append(["hidden", "", "", "", "", f"{hidden} entities you cannot see are not listed"])
    return csv_text(rows)


def _tree_order(top: list[str], children: dict[str, list[str]], known, shown) -> list[tuple[str, int]]:
    """The `shown` groups depth-first from the roots (children sorted), each once, with its level for indentation.

    Hidden groups are walked through but take no level: their visible sub-groups sit under the nearest visible
    ancestor. Groups only reachable through a cycle (bad data) are appended at level 0 so nothing is dropped.
    """
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    stack = [(ref, 0) for ref in reversed(top)]
    while stack:
        ref, level = stack.pop()
        if ref in seen:
            continue
        seen.add(ref)
        visible = ref in shown
        if visible:
            out.append((ref, level))
        below = level + 1 if visible else level
        stack.extend((c, below) for c in sorted(children.get(ref, ()), reverse=True) if c in known)
    if len(top) != 1 or top[0] not in known:   # whole catalog: include cycle-only groups too
        out.extend((ref, 0) for ref in sorted(set(known) - seen) if ref in shown)
    return out


def _subtree(root: str, children: dict[str, list[str]]) -> set[str]:
    seen = {root}
    stack = [root]
    while stack:   # the group tree may contain cycles in bad data: `seen` keeps this finite
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _unowned_reason(owner: str | None) -> str:
    return f"owner {owner} is not in the catalog" if owner else "no owner declared"


_CLAIMS = """
MATCH (u:Entity {ref: $ref})
OPTIONAL MATCH (u)-[:MEMBER_OF]->(:Group)-[:CHILD_OF*0..20]->(g:Group)
RETURN collect(DISTINCT g.ref) AS groups
"""
_OWNED_BY_ANY = """
UNWIND $claims AS claim
MATCH (e:Entity)-[:OWNED_BY]->(:Entity {ref: claim}) WHERE NOT e:Unresolved AND %(visible)s
RETURN e.ref AS ref, claim
ORDER BY ref
"""


def ownership_claims(graph: "Graph", user: str) -> list[str]:
    """A user's ownership claims: their own ref, their groups and every ancestor of those groups.

    (Backstage counts direct groups only; DESIGN.md promises the whole chain up the group tree.)
    """
    records = graph.read(_CLAIMS, ref=user)
    groups = sorted(records[0]["groups"]) if records else []
    return [user, *groups]


def owned_through(graph: "Graph", claims: list[str], visibility: Visibility = EVERYTHING) -> list[tuple[str, str]]:
    """(entity, claim) for everything owned by any of the claims, each entity once (its first claim)."""
    seen: dict[str, str] = {}
    query = _OWNED_BY_ANY % {"visible": visibility.predicate("e")}
    for r in graph.read(query, claims=claims, **visibility.params()):
        seen.setdefault(r["ref"], r["claim"])
    order = {claim: i for i, claim in enumerate(claims)}
    return sorted(seen.items(), key=lambda item: (order[item[1]], item[0]))


_READABLE = """
UNWIND $refs AS ref
MATCH (g:Entity {ref: ref}) WHERE %(visible)s
RETURN g.ref AS ref
"""
_OWNED_BY_CLAIMS = """
UNWIND $claims AS claim
MATCH (e:Entity)-[:OWNED_BY]->(:Entity {ref: claim}) WHERE NOT e:Unresolved
RETURN e.ref AS ref, claim, %(visible)s AS visible
ORDER BY ref
"""


def user_ownership(graph: "Graph", user: str, visibility: Visibility = EVERYTHING) -> dict:
    """A user's Ownership tab as `visibility` may see it.

    `groups`: the user's groups and their ancestors the reader may read (`hidden_groups` counts the rest);
    `owned`: (entity, through) for every readable entity the user owns, `through` None when owned directly,
    else the claim group, masked as HIDDEN_GROUP when the reader may not read it; `hidden` counts owned
    entities the reader may not read.
    """
    claims = ownership_claims(graph, user)
    groups = claims[1:]
    shown = {r["ref"] for r in graph.read(_READABLE % {"visible": visibility.predicate("g")}, refs=groups,
                                          **visibility.params())} if groups else set()
    first: dict[str, str] = {}
    hidden: set[str] = set()
    order = {claim: i for i, claim in enumerate(claims)}
    for r in graph.read(_OWNED_BY_CLAIMS % {"visible": visibility.predicate("e")}, claims=claims,
                        **visibility.params()):
        if not r["visible"]:
            hidden.add(r["ref"])
        elif r["ref"] not in first or order[r["claim"]] < order[first[r["ref"]]]:
            first[r["ref"]] = r["claim"]
    owned = sorted(first.items(), key=lambda item: (order[item[1]], item[0]))
    return {
        "groups": [g for g in groups if g in shown],
        "hidden_groups": len(groups) - len(shown),
        "owned": [(ref, None if claim == user else claim if claim in shown else HIDDEN_GROUP)
                  for ref, claim in owned],
        "hidden": len(hidden),
    }
