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

Why the walk is kept (`walked()` -> `Walked`): it does not depend on the reader, and at 6,000 entities it is
most of a request's time (Neo4j's own share alone is ~40 ms), while a reader pages through it, opens the tab
again, exports it. Each process keeps walks per catalog version (graph.versioned: any ingest write retires
them everywhere within half a second, unless the write touched none of the walk's entities: `_untouched`),
bounded by walked entities (`TRELLIS_WALK_CACHE_STEPS`), with the counts that do not depend on the reader
precomputed per (kind, owner, restricted, system, distance) group, so a warm request is a sum over those
groups and one page of paths: well under a millisecond.

Visibility is applied exactly as before, on every request, to the shared walk: the walk goes through every
entity (a restricted database still breaks its dependants); entities the reader may not read are left out of every list and count, counted in
`hidden`, and masked in paths. A cursor carries only where the next page starts, never who may read: each
page applies the visibility of the request that asks for it.
"""
from __future__ import annotations

import base64
import binascii
import bisect
import functools
import itertools
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Iterator

import orjson

from graph.csv_export import csv_text
from graph.filters import QueryError
from graph.gc_pause import paused_gc
from graph.model import RELATION_NAMES
from graph.visibility import EVERYTHING, Visibility
from graph import versioned
from graph.walk import EntityNotFound, Step, node_cap, walk

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
    """The walk from `ref` (`walk` is "impact" or "dependencies") as `visibility` may see it, for summaries,
    pages, cursors and streams. Raises EntityNotFound for an unknown ref, ValueError for a depth out of range.

    The walk itself does not depend on the reader, so it is kept per process for the catalog version it was
    read at (`walked()`): a cursor's next page or the Impact tab opened again costs no walk. The reader's
    visibility is applied to it on every call."""
    if walk not in WALKS:
        raise ValueError(f"walk must be one of {', '.join(WALKS)}")
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
    return Radius(walked(graph, ref, depth, walk=walk, cap=node_cap(cap)), visibility)


# ------------------------------------------------------------------------------ the walk, for every reader

WALK_CACHE_ENV = "TRELLIS_WALK_CACHE_STEPS"
DEFAULT_WALK_CACHE_STEPS = 60_000
"""Walked entities kept per process, over all kept walks (least recently used dropped first): about 270 bytes
each (graph.walk.Step with its repeated strings shared; benchmarks.impact_bench measures it), so at most ~16 MB
per process, ten 6,000-entity radii. 0 switches the cache off."""

_walks = versioned.new_store()


def walk_cache_steps() -> int:
    raw = os.environ.get(WALK_CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_WALK_CACHE_STEPS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{WALK_CACHE_ENV} must be a whole number of entities (0: no cache), not {raw!r}")
    return value


def walked(graph: "Graph", ref: str, depth: int = DEFAULT_DEPTH, *, walk: str = "impact",
           cap: int | None = None) -> "Walked":
    """The walk from `ref`, read once per catalog version and kept in this process (bounded by
    `TRELLIS_WALK_CACHE_STEPS` walked entities). Every ingest write bumps the catalog version and each process
    re-reads it at least every graph.versioned.POLL_INTERVAL, so a kept walk never outlives the catalog it was
    read from by more than that. It holds every walked entity, hidden ones too: never hand it to a reader
    without a `Radius` (which applies the reader's visibility)."""
    cap = node_cap(cap)
    limit = walk_cache_steps()
    compute = lambda: _read_walk(graph, ref, depth, walk, cap)   # noqa: E731
    if not limit:
        return compute()
    # The version is read BEFORE walking: a write that lands during the walk leaves an entry under the old
    # version, which the next poll of the version retires.
    return versioned.cached(graph, versioned.catalog_version(graph), ("walk", walk, ref, depth, cap), compute,
                            store=_walks, limit=limit, weigh=lambda w: len(w.steps) + len(w.probed) + 1,
                            one_at_a_time=True, carry=_untouched)


def _untouched(kept: "Walked", changed: frozenset[str]) -> bool:
    """Whether a walk read at an older catalog version is still the answer, given every ref written since.

    Why this suffices: a walk's answer is its root's and its steps' facts and the relationships between them
    and their neighbours. A write that changes any of that writes one of those nodes, or a relationship with
    one end among them (graph.write records both ends), and a node the walk did not reach can only become
    reachable through a new relationship from one it did. The nodes read past the steps (the level probed
    beyond the depth, the one past the cap) decide `cut_off` and `capped`, so they count too."""
    return kept.root["ref"] not in changed and changed.isdisjoint(kept.reached) and \
        changed.isdisjoint(kept.probed)


def _read_walk(graph: "Graph", ref: str, depth: int, walk: str, cap: int) -> "Walked":
    with paused_gc():   # the walk's thousands of steps, and the groups and index built from them
        return _read_walk_paused(graph, ref, depth, walk, cap)


def _read_walk_paused(graph: "Graph", ref: str, depth: int, walk: str, cap: int) -> "Walked":
    relationships = WALKS[walk]
    # Every PART_OF edge at a System or Domain root is membership, never subcomponentOf.
    membership_free = "|".join(p for p in relationships.split("|") if "PART_OF" not in p)
    # One level past the bound tells whether the answer was cut off, without a second query.
    answer = _walk(graph, ref, relationships, max_depth=depth, labels=NOT_PROPAGATING,
                   root_relationships={"System": membership_free, "Domain": membership_free}, cap=cap,
                   look_beyond=True)
    steps = tuple(answer.steps)
    # Counts that do not depend on the reader, per group of entities a reader sees all or none of: a
    # reader's summary is then a sum over a few hundred groups, not a pass over thousands of entities.
    groups = Counter((s.kind, s.owner, s.restricted, s.system, s.distance) for s in steps)
    access: Counter = Counter()
    for (kind, owner, restricted, _, _), n in groups.items():
        access[(kind, owner, restricted)] += n
    return Walked(walk=walk, root={k: answer.root[k] for k in ("ref", "kind", "title", "owner", "system",
                                                                "unresolved")},
                  depth=depth, steps=steps, reached={s.ref: s for s in steps}, groups=tuple(groups.items()),
                  access=dict(access), cut_off=answer.beyond, capped=answer.capped, cap=answer.cap,
                  probed=answer.probed)


_walk = walk   # the parameter name `walk` above shadows the function


@dataclass(frozen=True, eq=False)
class Walked:
    """One walk's answer for every reader (shared between requests and threads: never mutated)."""

    walk: str
    root: dict
    depth: int
    steps: tuple[Step, ...]       # every walked entity, nearest first, then by ref
    reached: dict[str, Step]      # the same by ref (paths go through hidden ones too)
    groups: tuple                 # ((kind, owner, restricted, system, distance), count) over `steps`
    access: dict                  # count per (kind, owner, restricted): what Visibility.can_read looks at
    cut_off: bool                 # entities lie beyond `depth`
    capped: bool                  # the walk stopped at `cap` entities: counts are lower bounds
    cap: int
    probed: tuple[str, ...] = ()  # refs read past `steps` (graph.walk.Walk.probed): a change to them counts


_NEAREST_FIRST = attrgetter("distance", "ref")   # the order of `steps`, as a bisect key


class Radius:
    """One walk as one reader may see it. `shown`: the entities the reader may read, nearest first, then by
    ref; `hidden`: the refs of those they may not (walked through, counted, masked in paths)."""

    def __init__(self, walked_: Walked, visibility: Visibility = EVERYTHING):
        self._walked = walked_
        # Visibility.can_read decided once per (kind, owner, restricted): thousands of walked entities share
        # a few hundred of them.
        self._readable = {key: visibility.everything or visibility.can_read(
            {"kind": key[0], "owner": key[1], "restricted": key[2]}) for key in walked_.access}
        self._all_readable = all(self._readable.values())
        self._hidden_count = sum(n for key, n in walked_.access.items() if not self._readable[key])

    walk = property(lambda self: self._walked.walk)
    depth = property(lambda self: self._walked.depth)
    reached = property(lambda self: self._walked.reached)
    cut_off = property(lambda self: self._walked.cut_off)
    capped = property(lambda self: self._walked.capped)
    cap = property(lambda self: self._walked.cap)

    @property
    def root(self) -> dict:
        return dict(self._walked.root)   # a copy: the walk is shared

    def _can_read(self, step: Step) -> bool:
        return self._readable[(step.kind, step.owner, step.restricted)]

    @functools.cached_property
    def shown(self) -> tuple[Step, ...]:
        steps = self._walked.steps
        return steps if self._all_readable else tuple(filter(self._can_read, steps))

    @functools.cached_property
    def hidden(self) -> frozenset[str]:
        if self._all_readable:
            return frozenset()
        return frozenset(s.ref for s in self._walked.steps if not self._can_read(s))

    @property
    def items_key(self) -> str:
        return ITEMS_KEY[self.walk]

    # ----------------------------------------------------------------------------------------- summary

    def summary(self) -> dict:
        """Counts of the readable entities by owner, system, kind and distance, plus what bounds them."""
        owners: Counter = Counter()
        systems: Counter = Counter()
        kinds: Counter = Counter()
        distances: Counter = Counter()
        readable = self._readable
        for (kind, owner, restricted, system, distance), n in self._walked.groups:
            if readable[(kind, owner, restricted)]:
                owners[owner] += n
                systems[system] += n
                kinds[kind] += n
                distances[distance] += n
        return {
            "count": len(self._walked.steps) - self._hidden_count,
            "hidden": self._hidden_count,
            "by_owner": _counts(owners, "owner"),
            "by_system": _counts(systems, "system"),
            "by_kind": _counts(kinds, "kind"),
            "by_distance": [{"distance": d, "count": c} for d, c in sorted(distances.items())],
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
        steps = self._walked.steps
        start = 0
        if cursor is not None:
            state = decode_cursor(cursor)
            if (state["walk"], state["ref"], state["depth"]) != (self.walk, self._walked.root["ref"], self.depth):
                raise QueryError("the cursor belongs to another walk (root, direction or depth differ)")
            # Keyset, not offset: a page starts after the last entity shown, so an entity that appears or
            # goes between two pages shifts nothing else.
            start = bisect.bisect_right(steps, tuple(state["after"]), key=_NEAREST_FIRST)
        chunk: list[Step] = []
        more = False
        for s in itertools.islice(steps, start, None):   # the reader's entities from `start`, one past the page
            if self._all_readable or self._can_read(s):
                if len(chunk) == limit:
                    more = True
                    break
                chunk.append(s)
        next_cursor = _encode_cursor(self.walk, self._walked.root["ref"], self.depth, chunk[-1]) if more else None
        return {
            "root": self.root,
            "depth": self.depth,
            "walk": self.walk,
            "summary": self.summary(),
            "items": [self.item(s) for s in chunk],
            "pageInfo": {"nextCursor": next_cursor},
        }

    # ------------------------------------------------------------------------------------------- items

    def item(self, step: Step) -> dict:
        """One entity with its shortest path from the root and the relation of every hop (hidden refs masked)."""
        reached, root = self._walked.reached, self._walked.root["ref"]
        chain = [step]
        while chain[-1].parent in reached and chain[-1].parent != root:
            chain.append(reached[chain[-1].parent])
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
        if self._all_readable:
            return ref
        step = self._walked.reached.get(ref)   # the root is not a step: the reader was allowed to ask for it
        return HIDDEN_REF if step is not None and not self._can_read(step) else ref

    def items(self) -> Iterator[dict]:
        """Every readable entity with its path, one at a time (nearest first, then by ref)."""
        return (self.item(s) for s in self.shown)

    # ------------------------------------------------------------------------------------ whole answers

    def answer(self) -> dict:
        """The full answer as one dict (what `impact()` always returned): for small radii and tests."""
        return {"root": self.root, "depth": self.depth, self.items_key: list(self.items()), **self._totals()}

    def _totals(self) -> dict:
        return {"count": len(self.shown), "hidden": self._hidden_count, "by_owner": _rollup(self.shown, "owner"),
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
        if self._hidden_count:   # an export must not look complete when it is not
            notes.append([f"# {self._hidden_count} more impacted entities you cannot see are not listed"])
        if self.capped:
            notes.append([f"# capped at {self.cap} entities (walk_node_cap): more are impacted; "
                          "every count here is a lower bound"])
        if self.cut_off:
            notes.append([f"# cut off at depth {self.depth}: more entities are impacted further away"])
        if notes:
            yield csv_text(notes)


def _counts(counted: Counter, key: str) -> list[dict]:
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
