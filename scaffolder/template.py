"""The Template model: its form (JSON Schema steps with `ui:*` hints), values, defaults, validation, secrets.

What Backstage's frontend does with react-jsonschema-form and its backend with `jsonschema`, done once on the
server: defaults filled in, fields of `dependencies`/`oneOf` branches that are not chosen dropped, values
validated per step with messages per field, `ui:field: Secret` values moved out of the values into the
task's secrets, and the pickers' own rules enforced (a RepoUrlPicker's allowedHosts/Owners/Repos, an
EntityNamePicker's name rules, tags). The form is authored by the template's writer, so schema problems are
reported as the template's fault, and `pattern`s (which could backtrack catastrophically on a crafted value)
stop after PATTERN_TIMEOUT with a message instead of hanging the portal.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import jsonschema
import regex
from jsonschema import Draft7Validator, FormatChecker, validators

SECRET_FIELD = "Secret"
MASK = "********"
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_TAG = re.compile(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$")
MAX_VALUE_CHARS = 100_000
PATTERN_TIMEOUT = 0.25     # seconds per `pattern` match: a crafted value cannot backtrack for ever


def _bounded_pattern(validator, pattern, instance, schema):
    """jsonschema's `pattern`, evaluated with a time limit (the `regex` module can be interrupted)."""
    if not validator.is_type(instance, "string"):
        return
    try:
        if regex.search(pattern, instance, timeout=PATTERN_TIMEOUT) is None:
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")
    except TimeoutError:
        yield jsonschema.ValidationError(f"matching the pattern {pattern!r} took too long (it backtracks on this "
                                         f"value); the template's pattern needs simplifying")
    except regex.error as exc:
        raise TemplateError(f"pattern {pattern!r} is not a valid regular expression ({exc})") from None


_Validator = validators.extend(Draft7Validator, {"pattern": _bounded_pattern})


class TemplateError(ValueError):
    """The template itself is unusable (its parameters or steps are malformed)."""


@dataclass
class FieldProblem:
    field: str          # dot path of the value ("name", "repo.owner", "tags[2]"); "" for the whole form
    message: str
    step: int | None = None

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message, "step": self.step}


@dataclass
class Template:
    """A Template entity as the scaffolder uses it."""

    entity: dict
    ref: str
    parameters: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    output: dict = field(default_factory=dict)

    @property
    def metadata(self) -> dict:
        return self.entity.get("metadata") or {}

    @property
    def spec(self) -> dict:
        return self.entity.get("spec") or {}

    @property
    def title(self) -> str:
        return self.metadata.get("title") or self.metadata.get("name") or self.ref

    @property
    def etag(self) -> str | None:
        return self.metadata.get("etag")

    @classmethod
    def from_entity(cls, entity: dict, ref: str | None = None) -> "Template":
        if not isinstance(entity, dict) or entity.get("kind", "").lower() != "template":
            raise TemplateError("not a Template entity")
        if entity.get("apiVersion") != "scaffolder.backstage.io/v1beta3":
            raise TemplateError(f"apiVersion {entity.get('apiVersion')!r} is not supported; Trellis runs "
                                f"scaffolder.backstage.io/v1beta3 templates")
        metadata = entity.get("metadata") or {}
        spec = entity.get("spec") or {}
        ref = ref or f"template:{metadata.get('namespace') or 'default'}/{metadata.get('name')}".lower()
        raw = spec.get("parameters") or []
        parameters = [raw] if isinstance(raw, dict) else list(raw)
        for i, step in enumerate(parameters):
            if not isinstance(step, dict):
                raise TemplateError(f"spec.parameters[{i}] must be a JSON Schema object")
        steps = spec.get("steps") or []
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise TemplateError("spec.steps must be a list of steps")
        seen: set[str] = set()
        for i, step in enumerate(steps):
            if not isinstance(step.get("action"), str) or not step["action"]:
                raise TemplateError(f"spec.steps[{i}] has no action")
            step_id = step.get("id")
            if step_id is not None and (not isinstance(step_id, str) or step_id in seen):
                raise TemplateError(f"spec.steps[{i}].id {step_id!r} is not a unique string")
            if step_id:
                seen.add(step_id)
        output = spec.get("output") or {}
        if not isinstance(output, dict):
            raise TemplateError("spec.output must be a mapping of links and text")
        return cls(entity=entity, ref=ref, parameters=parameters, steps=steps, output=output)

    # ---------------------------------------------------------------- the form

    def parameter_schema(self) -> dict:
        """Backstage's `GET .../parameter-schema` answer: title, description and one schema per form step."""
        return {
            "title": self.title,
            "description": self.metadata.get("description"),
            "steps": [{"title": step.get("title") or "Please enter the following information",
                       "description": step.get("description"), "schema": step} for step in self.parameters],
        }

    def secret_fields(self) -> set[str]:
        return {name for step in self.parameters for name, prop in _properties(step)
                if isinstance(prop, dict) and prop.get("ui:field") == SECRET_FIELD}

    def fields(self) -> Iterator[tuple[int, str, dict]]:
        """(form step index, property name, property schema) of every top-level field, dependants included."""
        for index, step in enumerate(self.parameters):
            for name, prop in _properties(step):
                yield index, name, prop
            for name, prop in _dependent_properties(step):
                yield index, name, prop

    # ---------------------------------------------------------------- values

    def prepare(self, values: Any, secrets: Any = None) -> tuple[dict, dict, list[FieldProblem]]:
        """Defaults filled, unchosen branches dropped, validated; returns (values, secrets, problems).

        Secret fields may arrive in `values` (the form) or `secrets` (the API, Backstage's shape); either way
        they leave the values and are only in the secrets."""
        if values is None:
            values = {}
        if not isinstance(values, dict):
            return {}, {}, [FieldProblem("", "values must be an object")]
        secrets = dict(secrets or {}) if isinstance(secrets, dict) else {}
        merged = copy.deepcopy(values)
        for name in self.secret_fields():
            if name in secrets and name not in merged:
                merged[name] = secrets[name]
        problems = _size_problems(merged)
        if problems:
            return {}, {}, problems
        for step in self.parameters:
            _apply_defaults(step, merged)
            _prune_dependencies(step, merged)
        problems = self.validate(merged)
        out_secrets = {k: v for k, v in secrets.items() if isinstance(k, str) and isinstance(v, str)}
        for name in self.secret_fields():
            if name in merged:
                value = merged.pop(name)
                if isinstance(value, str):
                    out_secrets[name] = value
        return merged, out_secrets, problems

    def validate(self, values: dict) -> list[FieldProblem]:
        problems: list[FieldProblem] = []
        for index, step in enumerate(self.parameters):
            _check_patterns(step, f"spec.parameters[{index}]")
            schema = _strip_ui(step)
            try:
                validator = _Validator(schema, format_checker=FormatChecker())
                errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
            except (jsonschema.SchemaError, jsonschema.exceptions.UnknownType, TypeError, ValueError) as exc:
                raise TemplateError(f"spec.parameters[{index}] is not a valid JSON Schema: "
                                    f"{getattr(exc, 'message', exc)}") from None
            for error in errors:
                problems.append(_problem(error, step, index))
            problems.extend(_widget_problems(step, values, index))
        return _dedupe(problems)


def _properties(step: dict) -> list[tuple[str, dict]]:
    props = step.get("properties") or {}
    return [(k, v) for k, v in props.items() if isinstance(v, dict)] if isinstance(props, dict) else []


def _dependent_properties(step: dict) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    seen = {name for name, _ in _properties(step)}
    for branch in _branches(step):
        for name, prop in _properties(branch["schema"]):
            if name not in seen and isinstance(prop, dict):
                seen.add(name)
                out.append((name, {**prop, "x-trellis-depends-on": branch["on"],
                                   "x-trellis-when": branch["values"]}))
    return out


def _branches(step: dict) -> list[dict]:
    """`dependencies: {a: {oneOf: [{properties: {a: {enum: [x]}, b: {...}}}]}}` as (on, values, schema)."""
    out = []
    deps = step.get("dependencies") or {}
    if not isinstance(deps, dict):
        return out
    for on, dep in deps.items():
        if not isinstance(dep, dict):
            continue
        options = dep.get("oneOf") or dep.get("anyOf") or ([dep] if "properties" in dep else [])
        for option in options:
            if not isinstance(option, dict):
                continue
            selector = ((option.get("properties") or {}).get(on) or {})
            values = selector.get("enum") if isinstance(selector, dict) else None
            if values is None and isinstance(selector, dict) and "const" in selector:
                values = [selector["const"]]
            out.append({"on": on, "values": values, "schema": option})
    return out


def _apply_defaults(schema: dict, values: dict) -> None:
    for name, prop in _properties(schema):
        if name not in values and "default" in prop:
            values[name] = copy.deepcopy(prop["default"])
        if prop.get("type") == "object" and isinstance(values.get(name), dict):
            _apply_defaults(prop, values[name])
    for branch in _branches(schema):
        if branch["values"] is None or values.get(branch["on"]) in branch["values"]:
            for name, prop in _properties(branch["schema"]):
                if name != branch["on"] and name not in values and "default" in prop:
                    values[name] = copy.deepcopy(prop["default"])


def _prune_dependencies(schema: dict, values: dict) -> None:
    """Drop fields that only exist in branches that were not chosen (react-jsonschema-form never sends them)."""
    base = {name for name, _ in _properties(schema)}
    chosen: set[str] = set()
    other: set[str] = set()
    for branch in _branches(schema):
        names = {name for name, _ in _properties(branch["schema"])} - {branch["on"]}
        if branch["values"] is None or values.get(branch["on"]) in branch["values"]:
            chosen |= names
        else:
            other |= names
    for name in other - chosen - base:
        values.pop(name, None)


def _strip_ui(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_ui(v) for k, v in schema.items() if not (isinstance(k, str) and k.startswith("ui:"))}
    if isinstance(schema, list):
        return [_strip_ui(v) for v in schema]
    return schema


def _check_patterns(schema: Any, where: str) -> None:
    if isinstance(schema, dict):
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                regex.compile(pattern)
            except regex.error as exc:
                raise TemplateError(f"{where}: pattern {pattern!r} is not a valid regular expression ({exc})") \
                    from None
        for key, value in schema.items():
            _check_patterns(value, where)
    elif isinstance(schema, list):
        for value in schema:
            _check_patterns(value, where)


def _size_problems(values: dict) -> list[FieldProblem]:
    stack: list[tuple[str, Any]] = list(values.items())
    total = 0
    while stack:
        key, value = stack.pop()
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, dict):
            stack.extend((f"{key}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            total += len(value)
            stack.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
        if total > MAX_VALUE_CHARS:
            return [FieldProblem(str(key), f"the values are larger than {MAX_VALUE_CHARS:,} characters")]
    return []


def _title(step: dict, path: list) -> str:
    props = step.get("properties") or {}
    if path and isinstance(path[0], str) and isinstance(props.get(path[0]), dict):
        return props[path[0]].get("title") or path[0]
    return str(path[0]) if path else "the form"


def _dotted(path: list) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(error: jsonschema.ValidationError, step: dict, index: int) -> FieldProblem:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        field_path = path + [missing]
        title = _title(step, field_path) if not path else missing
        return FieldProblem(_dotted(field_path), f"{title} is required", index)
    title = _title(step, path)
    if error.validator == "pattern" and "took too long" in error.message:
        message = f"{title}: {error.message}"
    elif error.validator == "pattern":
        message = f"{title} must match the pattern {error.validator_value}"
    elif error.validator == "enum":
        message = f"{title} must be one of {', '.join(map(str, error.validator_value))}"
    elif error.validator in ("maxLength", "minLength"):
        word = "at most" if error.validator == "maxLength" else "at least"
        message = f"{title} must be {word} {error.validator_value} characters"
    elif error.validator == "type":
        message = f"{title} must be of type {error.validator_value}"
    elif error.validator in ("oneOf", "anyOf"):
        message = f"{title}: the combination of values matches none of the allowed choices"
    else:
        message = f"{title}: {error.message}"
    return FieldProblem(_dotted(path), message, index)


def _widget_problems(step: dict, values: dict, index: int) -> list[FieldProblem]:
    problems = []
    for name, prop in _properties(step) + _dependent_properties(step):
        if name not in values:
            continue
        value = values[name]
        widget = prop.get("ui:field")
        options = prop.get("ui:options") or {}
        title = prop.get("title") or name
        if widget == "EntityNamePicker" and isinstance(value, str):
            if len(value) > 63 or not _NAME.match(value):
                problems.append(FieldProblem(name, f"{title} must be 1-63 characters of letters, digits, '-', '_' "
                                                   f"and '.', starting and ending with a letter or digit", index))
        elif widget == "EntityTagsPicker" and isinstance(value, list):
            for i, tag in enumerate(value):
                if not isinstance(tag, str) or len(tag) > 63 or not _TAG.match(tag):
                    problems.append(FieldProblem(f"{name}[{i}]", f"tag {tag!r} must be lower-case letters, digits "
                                                                 f"and ':+#' separated by '-'", index))
        elif widget == "RepoUrlPicker" and isinstance(value, str):
            problems.extend(_repo_url_problems(name, title, value, options, index))
    return problems


def _repo_url_problems(name: str, title: str, value: str, options: dict, index: int) -> list[FieldProblem]:
    parts = urlsplit("https://" + value)
    query = parse_qs(parts.query)
    problems = []
    hosts = options.get("allowedHosts")
    if isinstance(hosts, list) and hosts and parts.netloc not in hosts:
        problems.append(FieldProblem(name, f"{title}: host {parts.netloc or '(none)'} is not one of "
                                           f"{', '.join(map(str, hosts))}", index))
    for key, option in (("owner", "allowedOwners"), ("repo", "allowedRepos"), ("organization", "allowedOrganizations"),
                        ("project", "allowedProjects")):
        allowed = options.get(option)
        given = (query.get(key) or [""])[0]
        if isinstance(allowed, list) and allowed and given not in allowed:
            problems.append(FieldProblem(name, f"{title}: {key} {given or '(none)'} is not one of "
                                               f"{', '.join(map(str, allowed))}", index))
    if not (query.get("repo") or [""])[0]:
        problems.append(FieldProblem(name, f"{title}: the repository name is missing", index))
    return problems


def _dedupe(problems: list[FieldProblem]) -> list[FieldProblem]:
    seen = set()
    out = []
    for p in problems:
        key = (p.field, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def mask_values(values: dict, secret_names: set[str]) -> dict:
    """Values as stored and shown: secret fields (if any slipped in) replaced by a mask."""
    return {k: (MASK if k in secret_names else v) for k, v in values.items()}
