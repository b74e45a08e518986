"""Pure transform: an accepted descriptor document becomes an entity row plus the relations it declares."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

from graph.filters import entity_facts
from graph.model import Relation, canonical_kind, entity_ref, relations_of
from graph.visibility import is_restricted
from graph.write import EntityRow

MANAGED_BY_LOCATION = "backstage.io/managed-by-location"
MANAGED_BY_ORIGIN = "backstage.io/managed-by-origin-location"
# Part of every content hash: bump it when the stored row gains derived properties, so the next ingest
# rewrites every entity once (an unchanged hash would otherwise skip it forever).
ROW_FORMAT = "3"


@dataclass
class Transformed:
    row: EntityRow
    relations: list[Relation] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)   # (field, reason)


def location_of(file: str) -> str:
    """Backstage's `type:target` string for the file an entity came from (`url:` for a file read by URL)."""
    return f"url:{file}" if file.startswith(("https://", "http://")) else f"file:{file}"


def transform(entity: dict, *, file: str, origin: str) -> Transformed:
    """Turn one validated descriptor into what the graph stores.

    The stored descriptor is the file's entity plus Backstage's managed-by annotations, so the API serves
    it exactly as Backstage would; its hash is the change detector for re-ingestion.
    """
    # The reader hands out fresh, unshared values (aliases expanded into copies), so no defensive copy.
    kind = canonical_kind(str(entity["kind"]))
    entity["kind"] = kind
    metadata = entity.setdefault("metadata", {})
    namespace = str(metadata.get("namespace") or "default").lower()
    metadata["namespace"] = namespace
    name = str(metadata["name"])
    annotations = metadata.setdefault("annotations", {})
    annotations.setdefault(MANAGED_BY_LOCATION, location_of(file))
    annotations.setdefault(MANAGED_BY_ORIGIN, origin)
    ref = str(entity_ref(kind, namespace, name))
    spec = entity.get("spec") if isinstance(entity.get("spec"), dict) else {}

    declared = relations_of(kind, namespace, ref, spec)
    owner = next((r.target for r in declared.relations if r.type == "OWNED_BY"), None)
    system = next((r.target for r in declared.relations if r.via == "system"), None)
    # stored in the file's key order (template forms list fields as declared); hashed in sorted order
    descriptor = json.dumps(entity, separators=(",", ":"), default=str)
    canonical = json.dumps(entity, sort_keys=True, separators=(",", ":"), default=str)
    tags = metadata.get("tags") or []
    row = EntityRow(
        ref=ref,
        kind=kind,
        namespace=namespace,
        name=name,
        hash=hashlib.sha256((ROW_FORMAT + canonical).encode()).hexdigest()[:32],
        file=file,
        descriptor=descriptor,
        title=_text(metadata.get("title")),
        description=_text(metadata.get("description")),
        type=_text(spec.get("type")),
        lifecycle=_text(spec.get("lifecycle")),
        owner=owner,
        system=system,
        tags=[str(t).lower() for t in tags] if isinstance(tags, list) else [],
        facts=entity_facts(entity),
        restricted=is_restricted(entity),
    )
    problems = [(p.field, p.reason) for p in declared.problems]
    # JSON writes a non-finite float as Infinity or NaN: without either in the text there is none to find.
    bad_number = _non_finite(entity, "") if "Infinity" in canonical or "NaN" in canonical else None
    if bad_number is not None:   # JSON has no Infinity/NaN: the stored descriptor could not be read back
        problems.append((bad_number, f"{bad_number} is not a finite number (.inf and .nan cannot be stored as JSON)"))
    return Transformed(row, declared.relations, problems)


def _non_finite(value: object, path: str) -> str | None:
    """The JSON path of the first infinite or NaN float in a descriptor, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(document)"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _non_finite(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _non_finite(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _text(value: object) -> str | None:
    return None if value is None or isinstance(value, (dict, list)) else str(value)
