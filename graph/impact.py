"""Blast radius and dependency closure: ONE summary-and-cursor service for every caller.

One breadth-first walk in the server (graph.walk: APOC's spanning tree with global node uniqueness, bounded
by the shared node cap), so each entity is reported once, at its shortest distance, with one shortest path.
Which relationships propagate a failure:

- impact (what breaks when X breaks): `Y DEPENDS_ON X` and `Y CONSUMES_API X` (walk them backwards),
  `X PROVIDES_API A` and `X PART_OF P` where both are components, i.e. subcomponentOf (walk them forwards);
- dependencies (what X needs): the same walk in the other direction.

`PART_OF` also carries system and domain membership, which must not propagate: System and Domain nodes are
excluded from the walk (placeholders carry their kind label too, so this holds for unresolved refs).

Why a service (`blast_radius()` -> `Radius`) and not one big dict: at 100k entities a radius covers
thousands of entities, and the answer with a path per entity is megabytes that a portal tab or a terminal
cannot use whole. The walk is held once, as the server returned it (at most `cap` rows); the summary
(counts by owner, system, kind, distance), a page of entities with their paths and an opaque cursor for the
next page are computed from it on demand, and the full answer, NDJSON and CSV are produced by generators, one
entity at a time, never as one document in memory. The API, the portal's Impact tab and the CLI all read a
`Radius`; `impact()`/`dependencies()` keep the full answer they always returned.

Visibility is applied exactly as before: the walk goes through every entity (a restricted database still
breaks its dependants); entities the reader may not read are left out of every list and count, counted in
`hidden`, and masked in paths. A cursor carries only where the next page starts, never who may read: each
page applies the visibility of the request that asks for it.
"""
from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Iterator

import orjson

from graph.csv_export import csv_text
from graph.filters import QueryError
from graph.model import RELATION_NAMES
from graph.visibility import EVERYTHING, Visibility
from graph.walk import EntityNotFound, Step, walk

if TYPE_CHECKING:
    from graph.driver import Graph

DEFAULT_DEPTH = 10
MAX_DEPTH = 50
DEFAULT_PAGE = 50
MAX_PAGE = 1000

WALKS = {
    "impact": "<DEPENDS_ON|<CONSUMES_API|PROVIDES_API>|PART_OF>",
    "dependencies": "DEPENDS_ON>|CONSUMES_API>|<PROVIDES_API|<PART_OF",
}
ITEMS_KEY = {"impact": "impacted", "dependencies": "dependencies"}
NOT_PROPAGATING = "-System|-Domain"

__all__ = ["DEFAULT_DEPTH", "DEFAULT_PAGE", "MAX_DEPTH", "MAX_PAGE", "EntityNotFound", "HIDDEN_REF", "Radius",
           "blast_radius", "decode_cursor", "dependencies", "impact"]

HIDDEN_REF = "(an entity you cannot see)"
CSV_HEADER = ("ref", "kind", "distance", "owner", "system", "unresolved", "path")


def impact(graph: "Graph", ref: str, depth: int = DEFAULT_DEPTH, visibility: Visibility = EVERYTHING, *,
           cap: int | None = None) -> dict:
    """Everything that stops working when `ref` does (at most `cap` entities: graph.walk.node_cap)."""
    return blast_radius(graph, ref, depth, visibility, walk="impact", cap=cap).answer()


def dependencies(graph: "Graph", ref: str, depth: int = DEFAULT_DEPTH,
                 visibility: Visibility = EVERYTHING, *, cap: int | None = None) -> dict:
    """Everything `ref` needs, directly or transitively (at most `cap` entities: graph.walk.node_cap)."""
    return blast_radius(graph, ref, depth, visibility, walk="dependencies", cap=cap).answer()


def blast_radius(graph: "Graph", ref: str, depth: int = DEFAULT_DEPTH, visibility: Visibility = EVERYTHING, *,
                 walk: str = "impact", cap: int | None = None) -> "Radius":
    """Walk once from `ref` (`walk` is "impact" or "dependencies") and hold the answer for summaries, pages,
    cursors and streams. Raises EntityNotFound for an unknown ref, ValueError for a depth out of range."""
    if walk not in WALKS:
        raise ValueError(f"walk must be one of {', '.join(WALKS)}")
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
    relationships = WALKS[walk]
    # Every PART_OF edge at a System or Domain root is membership, never subcomponentOf.
    membership_free = "|".join(p for p in relationships.split("|") if "PART_OF" not in p)
    # One level past the bound tells whether the answer was cut off, without a second query.
    walked = _walk(graph, ref, relationships, max_depth=depth, labels=NOT_PROPAGATING,
                   root_relationships={"System": membership_free, "Domain": membership_free}, cap=cap,
                   look_beyond=True)
    hidden = frozenset() if visibility.everything else _hidden(walked.steps, visibility)
    shown = tuple(s for s in walked.steps if s.ref not in hidden)   # walk order: (distance, ref)
    root = {k: walked.root[k] for k in ("ref", "kind", "title", "owner", "system", "unresolved")}
    return Radius(walk=walk, root=root, depth=depth, shown=shown, hidden=hidden,
                  reached={s.ref: s for s in walked.steps}, cut_off=walked.beyond, capped=walked.capped,
                  cap=walked.cap)


_walk = walk   # the parameter name `walk` above shadows the function


def _hidden(steps: list[Step], visibility: Visibility) -> frozenset[str]:
    """Refs the reader may not read: Visibility.can_read decided once per (kind, owner, restricted), since
    thousands of walked entities share a few hundred owners."""
    decided: dict[tuple, bool] = {}
    out = []
    for s in steps:
        key = (s.kind, s.owner, s.restricted)
        readable = decided.get(key)
        if readable is None:
            readable = decided[key] = visibility.can_read(s.access_facts())
        if not readable:
            out.append(s.ref)
    return frozenset(out)


@dataclass(frozen=True)
class Radius:
    """One walk's answer. `shown`: the entities the reader may read, nearest first, then by ref."""

    walk: str
    root: dict
    depth: int
    shown: tuple[Step, ...]
    hidden: frozenset[str]
    reached: dict[str, Step]      # every walked entity by ref (hidden ones too: paths go through them)
    cut_off: bool                 # entities lie beyond `depth`
    capped: bool                  # the walk stopped at `cap` entities: counts are lower bounds
    cap: int
    _keys: list = field(default_factory=list, compare=False, repr=False)

    @property
    def items_key(self) -> str:
        return ITEMS_KEY[self.walk]

    # ----------------------------------------------------------------------------------------- summary

    def summary(self) -> dict:
        """Counts of the readable entities by owner, system, kind and distance, plus what bounds them."""
        return {
            "count": len(self.shown),
            "hidden": len(self.hidden),
            "by_owner": _counts(self.shown, "owner"),
            "by_system": _counts(self.shown, "system"),
            "by_kind": _counts(self.shown, "kind"),
            "by_distance": [{"distance": d, "count": c}
                            for d, c in sorted(Counter(map(attrgetter("distance"), self.shown)).items())],
            "cut_off": self.cut_off,
            "capped": self.capped,
            "cap": self.cap,
        }

    # ------------------------------------------------------------------------------------------- pages

    def page(self, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> dict:
        """The summary, one page of entities with their paths, and `pageInfo.nextCursor` (None on the last
        page). `cursor` must come from a page of the same walk (same root, direction and depth): QueryError
        otherwise."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise QueryError(f"limit must be an integer between 1 and {MAX_PAGE}")
        start = 0
        if cursor is not None:
            state = decode_cursor(cursor)
            if (state["walk"], state["ref"], state["depth"]) != (self.walk, self.root["ref"], self.depth):
                raise QueryError("the cursor belongs to another walk (root, direction or depth differ)")
            start = self._start_after(state["after"])
        chunk = self.shown[start:start + limit]
        more = start + limit < len(self.shown)
        next_cursor = _encode_cursor(self.walk, self.root["ref"], self.depth, chunk[-1]) if more and chunk else None
        return {
            "root": self.root,
            "depth": self.depth,
            "walk": self.walk,
            "summary": self.summary(),
            "items": [self.item(s) for s in chunk],
            "pageInfo": {"nextCursor": next_cursor},
        }

    def _start_after(self, after: tuple[int, str]) -> int:
        """Keyset, not offset: a page starts after the last entity shown, so an entity that appears or goes
        between two pages shifts nothing else."""
        if not self._keys:
            self._keys.extend((s.distance, s.ref) for s in self.shown)
        return bisect.bisect_right(self._keys, after)

    # ------------------------------------------------------------------------------------------- items

    def item(self, step: Step) -> dict:
        """One entity with its shortest path from the root and the relation of every hop (hidden refs masked)."""
        chain = [step]
        while chain[-1].parent in self.reached and chain[-1].parent != self.root["ref"]:
            chain.append(self.reached[chain[-1].parent])
        chain.reverse()
        mask = self._mask
        hops = []
        for s in chain:
            forward = RELATION_NAMES[s.rel_type][0]
            hop = ({"from": s.ref, "relation": forward, "to": s.parent} if s.outgoing
                   else {"from": s.parent, "relation": forward, "to": s.ref})
            hops.append({"from": mask(hop["from"]), "relation": forward, "to": mask(hop["to"])})
        return {
            "ref": step.ref, "kind": step.kind, "distance": step.distance, "owner": step.owner,
            "system": step.system, "unresolved": step.unresolved,
            "path": [mask(chain[0].parent)] + [mask(s.ref) for s in chain],
            "hops": hops,
        }

    def _mask(self, ref: str) -> str:
        return HIDDEN_REF if ref in self.hidden else ref

    def items(self) -> Iterator[dict]:
        """Every readable entity with its path, one at a time (nearest first, then by ref)."""
        return (self.item(s) for s in self.shown)

    # ------------------------------------------------------------------------------------ whole answers

    def answer(self) -> dict:
        """The full answer as one dict (what `impact()` always returned): for small radii and tests."""
        return {"root": self.root, "depth": self.depth, self.items_key: list(self.items()), **self._totals()}

    def _totals(self) -> dict:
        return {"count": len(self.shown), "hidden": len(self.hidden), "by_owner": _rollup(self.shown, "owner"),
                "by_system": _rollup(self.shown, "system"), "cut_off": self.cut_off, "capped": self.capped,
                "cap": self.cap}

    def json_chunks(self, batch: int = 200) -> Iterator[bytes]:
        """The full answer as JSON, produced in chunks (`batch` entities each) for a streamed response: the
        same document `impact()` returns, never held whole in memory."""
        yield b'{"root":' + orjson.dumps(self.root) + b',"depth":' + orjson.dumps(self.depth)
        yield b',"' + self.items_key.encode() + b'":['
        for i in range(0, len(self.shown), batch):
            part = b",".join(orjson.dumps(self.item(s)) for s in self.shown[i:i + batch])
            yield (b"," + part) if i else part
        yield b"]," + orjson.dumps(self._totals())[1:]

    def ndjson(self) -> Iterator[bytes]:
        """First line `{"root","depth","walk","summary"}`, then one line per entity (with its path)."""
        yield orjson.dumps({"root": self.root, "depth": self.depth, "walk": self.walk,
                            "summary": self.summary()}) + b"\n"
        for s in self.shown:
            yield orjson.dumps(self.item(s)) + b"\n"

    def csv_chunks(self, batch: int = 200) -> Iterator[str]:
        """CSV for spreadsheets (cells neutralised as graph.csv_export does), `batch` rows per chunk; notes at
        the end say when the export is not complete (hidden entities, the cap, the depth bound)."""
        yield csv_text([CSV_HEADER])
        for i in range(0, len(self.shown), batch):
            rows = []
            for s in self.shown[i:i + batch]:
                item = self.item(s)
                rows.append([s.ref, s.kind or "", s.distance, s.owner or "", s.system or "",
                             "yes" if s.unresolved else "", " > ".join(item["path"])])
            yield csv_text(rows)
        notes = []
        if self.hidden:   # an export must not look complete when it is not
            notes.append([f"# {len(self.hidden)} more impacted entities you cannot see are not listed"])
        if self.capped:
            notes.append([f"# capped at {self.cap} entities (walk_node_cap): more are impacted; "
                          "every count here is a lower bound"])
        if self.cut_off:
            notes.append([f"# cut off at depth {self.depth}: more entities are impacted further away"])
        if notes:
            yield csv_text(notes)


def _counts(steps: tuple[Step, ...], key: str) -> list[dict]:
    counted = Counter(map(attrgetter(key), steps))
    rows = [{key: k, "count": c} for k, c in counted.items()]
    rows.sort(key=lambda r: (-r["count"], r[key] is None, r[key] or ""))
    return rows


def _rollup(steps: tuple[Step, ...], key: str) -> list[dict]:
    groups: dict[str | None, list[str]] = defaultdict(list)
    for s in steps:
        groups[getattr(s, key)].append(s.ref)
    rows = [{key: k, "count": len(v), "refs": v} for k, v in groups.items()]
    rows.sort(key=lambda r: (-r["count"], r[key] is None, r[key] or ""))
    return rows


# ------------------------------------------------------------------------------------------ cursors

def _encode_cursor(walk_name: str, ref: str, depth: int, last: Step) -> str:
    raw = json.dumps({"v": 1, "w": walk_name, "r": ref, "d": depth, "a": [last.distance, last.ref]},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict:
    """`{walk, ref, depth, after}` of a cursor from `Radius.page`; it comes from the client, so it is untrusted
    input (QueryError when it is not one of ours). It says where a page starts, never who may read it."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
        out = {"walk": state["w"], "ref": state["r"], "depth": state["d"], "after": tuple(state["a"])}
    except (ValueError, binascii.Error, UnicodeError, KeyError, TypeError) as exc:
        raise QueryError("invalid cursor") from exc
    after = out["after"]
    if (state.get("v") != 1 or out["walk"] not in WALKS or not isinstance(out["ref"], str)
            or isinstance(out["depth"], bool) or not isinstance(out["depth"], int)
            or not 1 <= out["depth"] <= MAX_DEPTH or len(after) != 2 or isinstance(after[0], bool)
            or not isinstance(after[0], int) or not isinstance(after[1], str)):
        raise QueryError("invalid cursor")
    return out
