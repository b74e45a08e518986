"""JSON Schema validation of one entity, with Backstage's rules and precise, human rejections.

The envelope schema applies to every kind; a built-in kind (matched case-insensitively) also gets its own
schema, which names the apiVersions it accepts. Each schema error becomes one Problem pointing at the most
specific field (a `required` error points at the missing child, a bad label key at the key itself).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from .model import Problem
from .paths import json_path
from .schema_check import Check, compile_check

SCHEMA_DIR = Path(__file__).parent / "schemas"
BUILTIN_KINDS: tuple[str, ...] = (
    "Component", "API", "Resource", "System", "Domain", "Group", "User", "Location", "Template",
)
_CANONICAL = {k.lower(): k for k in BUILTIN_KINDS}


def canonical_kind(kind: str) -> str:
    """The built-in spelling of a kind (`component` -> `Component`); custom kinds are kept as given."""
    return _CANONICAL.get(kind.lower(), kind)


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Any:
    """`pattern` with ECMA-262 meaning of `$`: Python's `$` also matches before a final newline."""
    if not validator.is_type(instance, "string"):
        return
    if re.search(pattern, instance) is None or (pattern.endswith("$") and instance.endswith("\n")):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = extend(Draft202012Validator, {"pattern": _pattern})


def _load(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


def _inline(node: Any, defs: dict) -> Any:
    """Replace `$ref`s to common.json's `$defs` by the definitions themselves.

    The schema files stay readable (and usable by any JSON Schema tool through their `$id`s), while
    validation avoids per-instance reference lookups, which dominated the cost of a large catalog.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) == 1:
            name = ref.rsplit("/", 1)[-1]
            if ref in (f"common.json#/$defs/{name}", f"#/$defs/{name}") and name in defs:
                return _inline(defs[name], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@lru_cache(maxsize=None)
def _validator(name: str) -> Any:
    schema = _inline(_load(name), _load("common")["$defs"])
    _Validator.check_schema(schema)
    return _Validator(schema)


@lru_cache(maxsize=None)
def _fast_check(name: str) -> Check | None:
    """The compiled yes/no check of a schema (schema_check), or None when it cannot be exact."""
    return compile_check(_validator(name).schema)


def _schema_problems(name: str, entity: dict) -> list[Problem]:
    """Every problem `entity` has under schema `name`: jsonschema words them, but only for a document the
    compiled check does not pass (nearly every document passes, and then there is nothing to word)."""
    check = _fast_check(name)
    if check is not None and check(entity):
        return []
    return [_reason(e) for e in _validator(name).iter_errors(entity)]


def allowed_api_versions(kind: str) -> list[str]:
    """The apiVersions a built-in kind accepts, as declared by its schema."""
    return list(_validator(kind.lower()).schema["properties"]["apiVersion"]["enum"])


def entity_ref(entity: Any) -> str | None:
    """Lower-case `kind:namespace/name` when kind and metadata.name are readable strings."""
    if not isinstance(entity, dict):
        return None
    kind, metadata = entity.get("kind"), entity.get("metadata")
    if not isinstance(kind, str) or not kind or not isinstance(metadata, dict):
        return None
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not name:
        return None
    if not isinstance(namespace, str) or not namespace:
        namespace = "default"
    return f"{kind}:{namespace}/{name}".lower()


def key_problems(entity: Any) -> list[Problem]:
    """Mapping keys anywhere in the descriptor that are not strings (checked before anything else)."""
    out: list[Problem] = []
    _non_string_keys(entity, [], out)
    return out


def _non_string_keys(value: Any, path: list[str | int], out: list[Problem]) -> None:
    """JSON (and Backstage) keys are strings; a YAML `200:` or `true:` key must be quoted."""
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                where = json_path(path) or "the document"
                out.append(Problem(json_path(path) or None,
                                   f"{where} has a key {key!r} that is not a string (quote it)"))
            else:
                _non_string_keys(child, [*path, key], out)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _non_string_keys(child, [*path, i], out)


_TYPE_NAMES = {"string": "a string", "object": "a mapping", "array": "a list", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}


def describe_value(value: Any) -> str:
    """'a string', 'a list', 'null'... for error sentences."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


def _reason(error: ValidationError) -> Problem:
    """One schema error as a Problem with the most specific field and a readable sentence."""
    parts = list(error.absolute_path)
    rule = error.schema.get("x-rule") if isinstance(error.schema, dict) else None
    if error.validator == "required":
        missing = next((p for p in error.validator_value if f"{p!r} is a required" in error.message),
                       None)
        field = json_path([*parts, missing]) if missing is not None else json_path(parts)
        return Problem(field, f"{field} is required")
    if "propertyNames" in error.schema_path:
        field = json_path([*parts, str(error.instance)])
        parent = json_path(parts)
        return Problem(field, f"{parent} key {_show(error.instance)} {rule or 'is not allowed'}")
    field = json_path(parts) or None
    label = field or "the document"
    if error.validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return Problem(field, f"{label} must be {wanted}, not {describe_value(error.instance)}")
    if error.validator == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return Problem(field, f"{label} {_show(error.instance)} must be one of: {options}")
    if error.validator == "minLength" and error.instance == "":
        return Problem(field, f"{label} must not be empty")
    if rule:
        shown = f" {_show(error.instance)}" if isinstance(error.instance, str) else ""
        return Problem(field, f"{label}{shown} {rule}")
    if error.validator == "minLength":
        return Problem(field, f"{label} must not be empty")
    return Problem(field, f"{label}: {error.message}")


def validate_entity(entity: dict, *, max_errors: int = 20) -> tuple[dict, list[Problem]]:
    """The entity with a built-in kind spelled canonically, and every problem found (at most max_errors).

    A built-in kind under an apiVersion it does not accept gets one `apiVersion` problem instead of spec
    checks, since its spec cannot be read under an unknown version.
    """
    problems: list[Problem] = []
    _non_string_keys(entity, [], problems)
    if problems:
        return entity, problems[:max_errors]
    kind = entity.get("kind")
    builtin = isinstance(kind, str) and kind.lower() in _CANONICAL
    if builtin:
        entity = {**entity, "kind": canonical_kind(kind)}
    problems.extend(_schema_problems("envelope", entity))
    if builtin:
        canon = entity["kind"]
        versions = allowed_api_versions(canon)
        api_version = entity.get("apiVersion")
        if isinstance(api_version, str) and api_version not in versions:
            problems.append(Problem(
                "apiVersion",
                f"apiVersion {api_version!r} is not supported for kind {canon}; use "
                + " or ".join(versions)))
        elif isinstance(api_version, str):
            problems.extend(_schema_problems(canon.lower(), entity))
    unique = list(dict.fromkeys(problems))  # maxLength and pattern can word the same finding twice
    return entity, unique[:max_errors]
