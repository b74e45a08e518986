"""Backstage filter syntax -> parameterised Cypher predicates, and the `facts` written for the generic paths.

Why one module: the write path stores, per entity, what the read path filters on (lower-cased shadow
properties and a flat `facts` list of `path=value` strings), so both must agree on one definition of a
"dot path" and of case-insensitive matching.

Indexed fast paths: kind (label), metadata.name/namespace/title, spec.type/lifecycle/owner/system. Tags use
the `tags` list. `relations.<name>` walks the native relationships from the target (an index seek on `ref`).
Every other dot path (annotations, labels, links, spec.*) is matched against `facts` (a scan, still no JSON
parsing at read time).

Visibility is compiled in, at both ends of a relation: the filtered entity must be readable, and so must the
entity at the other end of a `relations.*` condition. Otherwise `relations.dependencyof=<hidden ref>` would
answer differently for a hidden ref than for a missing one (an existence oracle), and `relations.ownerof`
would single out groups whose only possessions are hidden.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from graph.model import RELATION_NAMES, RefError, kind_label, parse_ref
from graph.visibility import EVERYTHING, Visibility

Condition = tuple[str, "str | None"]
Filters = list[list[Condition]]

FACT_VALUE_MAX = 200      # longer values (descriptions, inline API definitions) are not filterable
FACTS_MAX = 300           # per entity, so one odd descriptor cannot bloat the node
MAX_GROUPS = 20
MAX_CONDITIONS = 50

# Paths answered from dedicated (indexed) properties, so `facts` does not repeat them.
_DEDICATED = {
    "kind", "metadata.name", "metadata.namespace", "metadata.title", "spec.type", "spec.lifecycle",
    "spec.owner", "spec.system", "metadata.tags",
}
# filter path -> (node property holding the lower-cased value)
_PROPERTY = {
    "metadata.name": "name_lc", "metadata.namespace": "namespace", "metadata.title": "title_lc",
    "spec.type": "type_lc", "spec.lifecycle": "lifecycle_lc",
}
# path -> default kind of a ref-valued field matched canonically
_REF_FIELDS = {"spec.owner": ("owner", "group"), "spec.system": ("system", "system")}

# `relations.<lower-cased Backstage name>` -> (relationship type, True when the filtered entity is the start)
RELATION_KEYS: dict[str, tuple[str, bool]] = {}
for _type, (_fwd, _inv) in RELATION_NAMES.items():
    RELATION_KEYS[_fwd.lower()] = (_type, True)
    RELATION_KEYS[_inv.lower()] = (_type, False)

_KEY_RE = re.compile(r"^[a-z0-9_\-/.:]+$")


class QueryError(ValueError):
    """A filter, cursor or order the catalog cannot answer (the API maps it to 400)."""


# ------------------------------------------------------------------------------------------ write side

def entity_facts(entity: dict) -> list[str]:
    """`path=value` strings (lower-case) for every short primitive leaf of the descriptor.

    Arrays are descended through (Backstage's rule), and primitive array items also yield `path.item=true`.
    """
    out: list[str] = []
    _walk_facts(entity, "", out, set())
    return out


def _walk_facts(value: object, path: str, out: list[str], seen: set[str]) -> None:
    """Module-level rather than a closure calling itself: such a closure is a reference cycle, so each
    descriptor's facts would wait for the cyclic collector, which an ingest run pauses (ingest.runs)."""
    if len(out) >= FACTS_MAX:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _walk_facts(v, f"{path}.{str(k).lower()}" if path else str(k).lower(), out, seen)
    elif isinstance(value, list):
        for item in value:
            _walk_facts(item, path, out, seen)
            if _primitive(item) and path not in _DEDICATED:
                text = _text(item)
                if text and len(text) <= FACT_VALUE_MAX:
                    _add_fact(f"{path}.{text}=true", out, seen)
    elif _primitive(value) and path and path not in _DEDICATED:
        text = _text(value)
        if text is not None and len(text) <= FACT_VALUE_MAX:
            _add_fact(f"{path}={text}", out, seen)


def _add_fact(fact: str, out: list[str], seen: set[str]) -> None:
    if fact not in seen and len(out) < FACTS_MAX:
        seen.add(fact)
        out.append(fact)


def _primitive(value: object) -> bool:
    return isinstance(value, (str, int, float, bool))


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


# ------------------------------------------------------------------------------------------ read side

@dataclass
class Compiled:
    """A WHERE expression over `n`, the parameters it uses, and `WITH` prelude lines it needs."""

    where: str
    params: dict = field(default_factory=dict)
    prelude: list[str] = field(default_factory=list)


def normalise(filters: Filters | None) -> Filters:
    """Lower-case keys, strip values, check shape and size; the canonical form cursors and caches key on."""
    if not filters:
        return []
    if not isinstance(filters, list) or len(filters) > MAX_GROUPS:
        raise QueryError(f"at most {MAX_GROUPS} filter groups are allowed")
    out: Filters = []
    total = 0
    for group in filters:
        if not isinstance(group, (list, tuple)) or not group:
            raise QueryError("a filter group must hold at least one condition")
        conds: list[Condition] = []
        for cond in group:
            if not isinstance(cond, (list, tuple)) or len(cond) != 2:
                raise QueryError("a filter condition is a (key, value) pair")
            key, value = cond
            if not isinstance(key, str) or (value is not None and not isinstance(value, str)):
                raise QueryError("filter keys and values must be strings")
            key = key.strip().lower()
            if not key or len(key) > 300 or not _KEY_RE.match(key) or ".." in key or key[0] == "." or key[-1] == ".":
                raise QueryError(f"invalid filter key {key!r}", )
            if value is not None:
                value = value.strip()
                if len(value) > 1000:
                    raise QueryError(f"filter value for {key} is too long")
            conds.append((key, value))
            total += 1
        out.append(conds)
    if total > MAX_CONDITIONS:
        raise QueryError(f"at most {MAX_CONDITIONS} filter conditions are allowed")
    return out


def parse_filter_param(values: list[str]) -> Filters:
    """Backstage GET syntax: each `filter=` value is an AND-group of comma-separated `key[=value]`."""
    groups: Filters = []
    for raw in values:
        conds: list[Condition] = []
        for part in raw.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            conds.append((key, value if sep else None))
        if not conds:
            raise QueryError(f"empty filter {raw!r}")
        groups.append(conds)
    return normalise(groups)


class _Builder:
    def __init__(self, visibility: Visibility) -> None:
        self.params: dict = dict(visibility.params())
        self.prelude: list[str] = []
        self.visibility = visibility
        self._count = 0

    def visible(self, var: str) -> str:
        """The reader's predicate over `var` (its parameters are in `params` from the start)."""
        return self.visibility.predicate(var)

    def param(self, value: object) -> str:
        name = f"p{self._count}"
        self._count += 1
        self.params[name] = value
        return "$" + name


def compile_filters(filters: Filters, text: str | None = None, *, namespaces: list[str] | None = None,
                    visibility: Visibility = EVERYTHING) -> Compiled:
    """The predicate for `(g1) OR (g2) ...` plus free text, over entities `visibility` may read (inside the
    query: pages stay full and counts honest); `namespaces` expands partial owner/system refs."""
    b = _Builder(visibility)
    groups = []
    for group in filters:
        groups.append("(" + " AND ".join(_condition(b, key, value, namespaces or []) for key, value in group) + ")")
    parts = ["NOT n:Unresolved"]
    if groups:
        parts.append("(" + " OR ".join(groups) + ")")
    if text and text.strip():
        t = b.param(text.strip().lower())
        parts.append(f"(n.name_lc CONTAINS {t} OR n.title_lc CONTAINS {t} OR toLower(n.description) CONTAINS {t})")
    where = " AND ".join(parts)
    if not visibility.everything:
        # appended as its own conjunct, in the form graph/visibility.py keeps index-friendly
        where = f"({where}) AND {visibility.predicate('n')}"
    return Compiled(where, b.params, b.prelude)


def _condition(b: _Builder, key: str, value: str | None, namespaces: list[str]) -> str:
    low = value.lower() if value is not None else None
    if key == "kind":
        if low is None:
            return "true"
        label = kind_label(low)
        if label.lower() == low:   # a built-in kind: its label alone is exact
            return f"n:`{label}`"
        # the label narrows fast; the property check tells apart custom kinds sharing a sanitised label
        return f"(n:`{label}` AND toLower(n.kind) = {b.param(low)})"
    if key in _PROPERTY:
        prop = _PROPERTY[key]
        return f"n.{prop} IS NOT NULL" if low is None else f"n.{prop} = {b.param(low)}"
    if key in _REF_FIELDS:
        return _ref_condition(b, key, low, namespaces)
    if key == "metadata.tags":
        return "size(n.tags) > 0" if low is None else f"{b.param(low)} IN n.tags"
    if key.startswith("metadata.tags."):
        tag = key[len("metadata.tags."):]
        if low is not None and low != "true":
            return "false"
        return f"{b.param(tag)} IN n.tags"
    if key == "relations" or key.startswith("relations."):
        return _relation_condition(b, key, low)
    if low is None:
        return f"any(f IN n.facts WHERE f STARTS WITH {b.param(key + '=')} OR f STARTS WITH {b.param(key + '.')})"
    return f"{b.param(f'{key}={low}')} IN n.facts"


def _ref_condition(b: _Builder, key: str, low: str | None, namespaces: list[str]) -> str:
    """`spec.owner=payments-team` matches like the descriptor's own ref: missing parts take the field's
    default kind and the *entity's* namespace, so short and full forms agree."""
    prop, default_kind = _REF_FIELDS[key]
    if low is None:
        return f"n.{prop} IS NOT NULL"
    kind, sep, rest = low.partition(":")
    if not sep:
        kind, rest = default_kind, low
    namespace, sep, name = rest.partition("/")
    if sep:
        try:
            return f"n.{prop} = {b.param(str(parse_ref(f'{kind}:{namespace}/{name}')))}"
        except RefError:
            return "false"
    name = namespace
    if not name or not kind:
        return "false"
    # candidates over the known namespaces keep this an index seek; the equality ties it to n's namespace
    cands = [f"{kind}:{ns}/{name}" for ns in namespaces]
    return (f"(n.{prop} IN {b.param(cands)} AND "
            f"n.{prop} = {b.param(kind + ':')} + n.namespace + '/' + {b.param(name)})")


def _relation_condition(b: _Builder, key: str, low: str | None) -> str:
    name = key[len("relations."):] if key.startswith("relations.") else ""
    if name not in RELATION_KEYS:
        known = sorted({n for pair in RELATION_NAMES.values() for n in pair})
        raise QueryError(f"unknown relation in filter key {key!r}; known: {', '.join(known)}")
    rel_type, outgoing = RELATION_KEYS[name]   # rel_type from the fixed list: safe to format in
    pattern = f"(n)-[:{rel_type}]->(m)" if outgoing else f"(n)<-[:{rel_type}]-(m)"
    if low is None:
        if b.visibility.everything:
            return f"EXISTS {{ {pattern.replace('(m)', '()')} }}"
        return f"EXISTS {{ MATCH {pattern} WHERE {b.visible('m')} }}"
    try:
        target = str(parse_ref(low))
    except RefError as exc:
        raise QueryError(f"{key}: {exc}; write the target as kind:namespace/name") from exc
    # Collected once from the target (an index seek plus its relationships), then a ref lookup per row.
    var = f"rel{len(b.prelude)}"
    back = f"(x)-[:{rel_type}]->(t)" if outgoing else f"(x)<-[:{rel_type}]-(t)"
    # A target the reader may not read matches nothing, exactly like a ref the catalog does not have.
    seek = f"MATCH (t:Entity {{ref: {b.param(target)}}})"
    if not b.visibility.everything:
        seek += f" WHERE {b.visible('t')}"
    b.prelude.append(f"COLLECT {{ {seek} MATCH {back} RETURN x.ref }} AS {var}")
    return f"n.ref IN {var}"
