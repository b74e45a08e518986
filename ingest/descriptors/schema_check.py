"""A compiled yes/no check for the descriptor schemas: the fast path of validation.

Why: at 100k entities, `jsonschema` walking every document (an evolved validator object per keyword and
property) was a third of the whole ingest. Nearly every document is valid, and a valid one needs no error
wording, only the answer. `compile_check(schema)` turns a schema into nested closures that answer "is it
valid?" with jsonschema's Draft 2020-12 semantics for the keywords our schemas use (and the ECMA `$` of
`validation._pattern`). A document it does not pass is validated again by jsonschema, which words the
problems, so every rejection reads exactly as before; the check can only make a valid document cheaper.

A schema using any keyword not handled here compiles to None (the caller then always uses jsonschema):
the check never guesses. `tests/test_schema_check.py` compares it with jsonschema on mutated documents.
"""
from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]

# Keywords that do not constrain an instance (annotations, and `$defs` once references are inlined).
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "examples",
                          "default", "x-rule", "x-kind", "deprecated", "readOnly", "writeOnly"})
_HANDLED = frozenset({"type", "properties", "required", "enum", "minLength", "maxLength", "pattern",
                      "items", "minItems", "maxItems", "propertyNames", "additionalProperties", "anyOf",
                      "if", "then", "else"}) | _ANNOTATIONS


class Unsupported(Exception):
    """The schema uses something this compiler does not handle exactly."""


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def compile_check(schema: Any) -> Check | None:
    """A function telling whether an instance is valid under `schema`, or None when it cannot be exact."""
    try:
        return _compile(schema)
    except Unsupported:
        return None


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, dict):
        raise Unsupported(repr(schema))
    unknown = set(schema) - _HANDLED
    if unknown:
        raise Unsupported(", ".join(sorted(unknown)))
    checks: list[Check] = []

    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        if not names or any(n not in _TYPES for n in names):
            raise Unsupported(f"type {schema['type']!r}")
        tests = [_TYPES[n] for n in names]
        checks.append(tests[0] if len(tests) == 1 else (lambda v, tests=tests: any(t(v) for t in tests)))

    if "enum" in schema:
        options = schema["enum"]
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise Unsupported("enum of non-strings")   # jsonschema's equality on other values is subtler
        allowed = frozenset(options)
        checks.append(lambda v: isinstance(v, str) and v in allowed)

    checks.extend(_string_checks(schema))
    checks.extend(_object_checks(schema))
    checks.extend(_array_checks(schema))

    if "anyOf" in schema:
        branches = [_compile(s) for s in schema["anyOf"]]
        if not branches:
            raise Unsupported("empty anyOf")
        checks.append(lambda v: any(b(v) for b in branches))

    if "if" in schema:
        condition = _compile(schema["if"])
        then = _compile(schema["then"]) if "then" in schema else None
        otherwise = _compile(schema["else"]) if "else" in schema else None

        def conditional(v: Any) -> bool:
            if condition(v):
                return then is None or then(v)
            return otherwise is None or otherwise(v)

        checks.append(conditional)

    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _string_checks(schema: dict) -> list[Check]:
    out: list[Check] = []
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None or high is not None:
        if not all(isinstance(x, int) for x in (low, high) if x is not None):
            raise Unsupported("length bounds")
        lo, hi = low or 0, high

        def length(v: Any) -> bool:
            return not isinstance(v, str) or (len(v) >= lo and (hi is None or len(v) <= hi))

        out.append(length)
    if "pattern" in schema:
        pattern = schema["pattern"]
        if not isinstance(pattern, str):
            raise Unsupported("pattern")
        search = re.compile(pattern).search
        dollar = pattern.endswith("$")   # validation._pattern: ECMA `$` never matches before a final newline

        def matches(v: Any) -> bool:
            if not isinstance(v, str):
                return True
            return search(v) is not None and not (dollar and v.endswith("\n"))

        out.append(matches)
    return out


def _object_checks(schema: dict) -> list[Check]:
    out: list[Check] = []
    if "required" in schema:
        required = list(schema["required"])

        def has_required(v: Any) -> bool:
            return not isinstance(v, dict) or all(key in v for key in required)

        out.append(has_required)
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise Unsupported("properties")
        compiled = [(name, _compile(sub)) for name, sub in properties.items()]

        def props(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for name, check in compiled:
                if name in v and not check(v[name]):
                    return False
            return True

        out.append(props)
    if "propertyNames" in schema:
        names = _compile(schema["propertyNames"])
        out.append(lambda v: not isinstance(v, dict) or all(names(key) for key in v))
    if "additionalProperties" in schema:
        extra = _compile(schema["additionalProperties"])
        declared = frozenset(properties or ())

        def additional(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            return all(extra(item) for key, item in v.items() if key not in declared)

        out.append(additional)
    return out


def _array_checks(schema: dict) -> list[Check]:
    out: list[Check] = []
    if "items" in schema:
        if isinstance(schema["items"], list):
            raise Unsupported("items as a list")
        item = _compile(schema["items"])
        out.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    low, high = schema.get("minItems"), schema.get("maxItems")
    if low is not None or high is not None:
        if not all(isinstance(x, int) for x in (low, high) if x is not None):
            raise Unsupported("item bounds")
        lo, hi = low or 0, high
        out.append(lambda v: not isinstance(v, list) or (len(v) >= lo and (hi is None or len(v) <= hi)))
    return out
