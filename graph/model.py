"""The entity model: kinds, entity refs and relation types.

Everything that decides what a ref or a relationship *means* lives here, so the ingest transform, the
write path and the read queries agree on one definition. Pure Python: no driver needed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

BUILTIN_KINDS: tuple[str, ...] = (
    "Component", "API", "Resource", "System", "Domain", "Group", "User", "Location", "Template",
)
_KIND_BY_LOWER = {k.lower(): k for k in BUILTIN_KINDS}

# Kinds whose spec.owner makes sense; an entity of these kinds without a resolved owner is "unowned".
OWNABLE_KINDS: tuple[str, ...] = ("Component", "API", "Resource", "System", "Domain", "Template")

DEFAULT_NAMESPACE = "default"

# Relationship types stored in the graph (forward direction only) and the Backstage names of both ends.
# type -> (forward name as seen from the start node, inverse name as seen from the end node)
RELATION_NAMES: dict[str, tuple[str, str]] = {
    "OWNED_BY": ("ownedBy", "ownerOf"),
    "PART_OF": ("partOf", "hasPart"),
    "PROVIDES_API": ("providesApi", "apiProvidedBy"),
    "CONSUMES_API": ("consumesApi", "apiConsumedBy"),
    "DEPENDS_ON": ("dependsOn", "dependencyOf"),
    "CHILD_OF": ("childOf", "parentOf"),
    "MEMBER_OF": ("memberOf", "hasMember"),
}
RELATION_TYPES: tuple[str, ...] = tuple(RELATION_NAMES)


class RefError(ValueError):
    """A string that cannot be read as an entity ref."""


@dataclass(frozen=True, order=True)
class EntityRef:
    """A parsed, canonical (lower-case) entity ref `kind:namespace/name`."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}"

    @property
    def kind_label(self) -> str:
        """The Neo4j label of this ref's kind (built-in spelling, or a sanitised custom label)."""
        return kind_label(self.kind)


def canonical_kind(kind: str) -> str:
    """The built-in spelling of a kind (`component` -> `Component`); custom kinds are kept as given."""
    return _KIND_BY_LOWER.get(kind.lower(), kind)


def kind_label(kind: str) -> str:
    """A safe Neo4j label for a kind; only letters and digits survive, so it can be formatted into Cypher."""
    canon = canonical_kind(kind)
    if canon in BUILTIN_KINDS:
        return canon
    # Case-folded: kinds are case-insensitive, so `DataSet` and `dataset` must get the same label.
    cleaned = re.sub(r"[^a-z0-9]", "", canon.lower())
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "k" + cleaned
    return "Kind" + cleaned.capitalize()


def parse_ref(
    value: str | dict,
    *,
    default_kind: str | None = None,
    default_namespace: str = DEFAULT_NAMESPACE,
) -> EntityRef:
    """Read `[kind:][namespace/]name` (or the compound `{kind, namespace, name}` form) Backstage's way.

    A missing kind takes the field's default kind; a missing namespace takes `default_namespace`, which
    callers set to the *referring* entity's namespace. Everything is lower-cased: refs are case-insensitive.
    """
    if isinstance(value, dict):
        kind = value.get("kind") or default_kind
        namespace = value.get("namespace") or default_namespace
        name = value.get("name")
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise RefError("an entity ref cannot be empty")
        kind, sep, rest = text.partition(":")
        if not sep:
            kind, rest = None, text
        namespace, sep, name = rest.partition("/")
        if not sep:
            namespace, name = None, rest
        kind = kind or default_kind
        namespace = namespace or default_namespace
    else:
        raise RefError(f"an entity ref must be a string, not {type(value).__name__}")
    if not kind:
        raise RefError(f"entity ref {value!r} has no kind and this field has no default kind")
    if not name or not isinstance(name, str):
        raise RefError(f"entity ref {value!r} has no name")
    if "/" in name or ":" in str(kind) or "/" in str(namespace):
        raise RefError(f"entity ref {value!r} is malformed")
    return EntityRef(str(kind).lower(), str(namespace).lower(), name.lower())


def entity_ref(kind: str, namespace: str | None, name: str) -> EntityRef:
    """The ref of a declared entity."""
    return EntityRef(kind.lower(), (namespace or DEFAULT_NAMESPACE).lower(), name.lower())


@dataclass(frozen=True)
class RelationSpec:
    """How one spec field becomes a relationship."""

    field: str                 # spec field, e.g. "dependsOn"
    type: str                  # relationship type, e.g. "DEPENDS_ON"
    default_kind: str | None   # kind used when the ref omits one
    reverse: bool = False      # True: the declaring entity is the *end* node (e.g. dependencyOf)
    many: bool = False         # list-valued field
    via: str = ""              # stored on the relationship to tell PART_OF sources apart
    spec_type: str | None = None   # only for entities of this spec.type (Backstage's per-type relation fields)


def _spec(field_: str, type_: str, default_kind: str | None, *, reverse=False, many=False, via="",
          spec_type: str | None = None) -> RelationSpec:
    return RelationSpec(field_, type_, default_kind, reverse, many, via or field_, spec_type)


# Per kind: which spec fields produce which relationships (Backstage's built-in processors).
_OWNER = _spec("owner", "OWNED_BY", "group")
RELATION_FIELDS: dict[str, tuple[RelationSpec, ...]] = {
    "Component": (
        _OWNER,
        _spec("system", "PART_OF", "system"),
        _spec("subcomponentOf", "PART_OF", "component"),
        _spec("providesApis", "PROVIDES_API", "api", many=True),
        _spec("consumesApis", "CONSUMES_API", "api", many=True),
        _spec("dependsOn", "DEPENDS_ON", None, many=True),
        _spec("dependencyOf", "DEPENDS_ON", None, reverse=True, many=True),
    ),
    "API": (_OWNER, _spec("system", "PART_OF", "system")),
    "Resource": (
        _OWNER,
        _spec("system", "PART_OF", "system"),
        _spec("dependsOn", "DEPENDS_ON", None, many=True),
        _spec("dependencyOf", "DEPENDS_ON", None, reverse=True, many=True),
    ),
    "System": (_OWNER, _spec("domain", "PART_OF", "domain")),
    "Domain": (_OWNER, _spec("subdomainOf", "PART_OF", "domain")),
    "Group": (
        _spec("parent", "CHILD_OF", "group"),
        _spec("children", "CHILD_OF", "group", reverse=True, many=True),
        _spec("members", "MEMBER_OF", "user", reverse=True, many=True),
    ),
    "User": (_spec("memberOf", "MEMBER_OF", "group", many=True),),
    "Template": (_OWNER,),
    # @backstage/catalog-model's alpha AiResource kind (skills, rules, plugins for AI coding tools): its model
    # layer declares owner and system for every type, and dependsOn for skills only.
    "airesource": (
        _OWNER,
        _spec("system", "PART_OF", "system"),
        _spec("dependsOn", "DEPENDS_ON", "airesource", many=True, spec_type="skill"),
    ),
}


@dataclass(frozen=True)
class Relation:
    """One relationship in its stored (forward) direction, with the entity that declared it."""

    type: str
    source: str      # start node ref
    target: str      # end node ref
    via: str = ""    # the spec field it came from (e.g. subcomponentOf)


@dataclass
class RelationProblem:
    """A ref in a relation field that could not be read."""

    field: str
    reason: str


@lru_cache(maxsize=65536)
def _ref_text(value: str, default_kind: str | None, namespace: str) -> str:
    """`str(parse_ref(...))` of a string ref, remembered: a large catalog names the same owners, systems and
    dependencies over and over (errors are not remembered: they raise each time)."""
    return str(parse_ref(value, default_kind=default_kind, default_namespace=namespace))


@dataclass
class EntityRelations:
    relations: list[Relation] = field(default_factory=list)
    problems: list[RelationProblem] = field(default_factory=list)


def relations_of(kind: str, namespace: str, ref: str, spec: dict | None) -> EntityRelations:
    """The relationships an entity's spec declares, with refs resolved against its namespace."""
    out = EntityRelations()
    if not isinstance(spec, dict):
        return out
    seen: set[tuple[str, str, str]] = set()
    canon = canonical_kind(kind)
    for rs in RELATION_FIELDS.get(canon, RELATION_FIELDS.get(canon.lower(), ())):   # custom kinds: lower-case keys
        raw = spec.get(rs.field)
        if raw is None or (rs.spec_type is not None and spec.get("type") != rs.spec_type):
            continue
        values = raw if isinstance(raw, list) else [raw]
        for i, value in enumerate(values):
            path = f"spec.{rs.field}[{i}]" if isinstance(raw, list) else f"spec.{rs.field}"
            try:
                other = _ref_text(value, rs.default_kind, namespace) if isinstance(value, str) else \
                    str(parse_ref(value, default_kind=rs.default_kind, default_namespace=namespace))
            except RefError as exc:
                out.problems.append(RelationProblem(path, str(exc)))
                continue
            start, end = (other, ref) if rs.reverse else (ref, other)
            key = (rs.type, start, end)
            if key in seen:
                continue
            seen.add(key)
            out.relations.append(Relation(rs.type, start, end, rs.via))
    return out
