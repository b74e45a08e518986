"""A template's parameters as an HTML form rendered on the server, and the posted form back into values.

What react-jsonschema-form and Backstage's field extensions do in the browser, done here: one fieldset per
form step; strings, numbers, booleans, enums (with enumNames), textareas, passwords and Secret fields,
arrays of choices (checkboxes), arrays of strings (one per line), tags, nested objects, and the pickers
(EntityPicker, OwnerPicker, OwnedEntityPicker: the catalog entities their catalogFilter/allowedKinds select,
readable by the person; EntityNamePicker; EntityTagsPicker; RepoUrlPicker: host, owner, repository). Fields of
`dependencies`/`oneOf` branches carry `data-depends-on` so app/static/js/create.js shows only the chosen
branch; without JavaScript all are shown and the server drops the unchosen ones.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from graph.visibility import Visibility
from scaffolder.template import SECRET_FIELD, Template
from graph import catalog

ENTITY_PICKERS = ("EntityPicker", "OwnerPicker", "OwnedEntityPicker", "MyGroupsPicker")
MAX_OPTIONS = 500


@dataclass
class Field:
    name: str                          # form input name (dotted for nested objects)
    title: str
    kind: str                          # text, textarea, password, number, checkbox, select, radio, checkboxes,
                                       # lines, tags, entity, repo, json, object
    description: str | None = None
    help: str | None = None
    required: bool = False
    value: Any = None
    options: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    depends_on: str | None = None
    when: str | None = None            # JSON list of the values that show this field
    children: list["Field"] = field(default_factory=list)
    error: str | None = None
    hosts: list[str] = field(default_factory=list)   # repo pickers
    secret: bool = False


def build_steps(template: Template, values: dict, errors: dict[str, str], *, graph: Any, visibility: Visibility,
                claims: frozenset[str], hosts: list[str]) -> list[dict]:
    """The form: [{title, description, fields}], values filled in (defaults where nothing was given)."""
    steps = []
    for index, step in enumerate(template.parameters):
        required = set(step.get("required") or [])
        fields = []
        order = step.get("ui:order") if isinstance(step.get("ui:order"), list) else None
        props = [(n, p) for n, p in (step.get("properties") or {}).items() if isinstance(p, dict)]
        if order:
            rank = {n: i for i, n in enumerate(order)}
            props.sort(key=lambda np: rank.get(np[0], rank.get("*", len(order))))
        for name, prop in props:
            fields.append(_field(name, name, prop, name in required, values, errors, graph=graph,
                                 visibility=visibility, claims=claims, hosts=hosts))
        for i, name, prop in template.fields():
            if i != index or "x-trellis-depends-on" not in prop:
                continue
            f = _field(name, name, prop, _required_in_branch(step, name), values, errors, graph=graph,
                       visibility=visibility, claims=claims, hosts=hosts)
            f.depends_on = prop["x-trellis-depends-on"]
            f.when = json.dumps(prop.get("x-trellis-when")) if prop.get("x-trellis-when") is not None else None
            fields.append(f)
        steps.append({"title": step.get("title") or "Please enter the following information",
                      "description": step.get("description"), "fields": fields})
    return steps


def _required_in_branch(step: dict, name: str) -> bool:
    for dep in (step.get("dependencies") or {}).values():
        for option in (dep.get("oneOf") or dep.get("anyOf") or [dep]) if isinstance(dep, dict) else []:
            if isinstance(option, dict) and name in (option.get("required") or []):
                return True
    return False


def _field(name: str, path: str, prop: dict, required: bool, values: dict, errors: dict, *, graph: Any,
           visibility: Visibility, claims: frozenset[str], hosts: list[str]) -> Field:
    options = prop.get("ui:options") if isinstance(prop.get("ui:options"), dict) else {}
    widget = prop.get("ui:widget")
    ui_field = prop.get("ui:field")
    current = _lookup(values, path)
    if current is None and "default" in prop:
        current = prop["default"]
    f = Field(name=path, title=str(prop.get("title") or name), kind="text", description=prop.get("description"),
              help=prop.get("ui:help"), required=required, value=current, error=errors.get(path))
    if prop.get("ui:placeholder"):
        f.attrs["placeholder"] = str(prop["ui:placeholder"])
    if prop.get("ui:autofocus"):
        f.attrs["autofocus"] = True
    if prop.get("ui:readonly") or prop.get("readOnly"):
        f.attrs["readonly"] = True
    kind = prop.get("type")
    if ui_field == SECRET_FIELD or widget == "password":
        f.kind, f.secret, f.value = "password", ui_field == SECRET_FIELD, None
    elif ui_field in ENTITY_PICKERS:
        f.kind = "entity"
        f.options = entity_options(graph, ui_field, options, visibility, claims)
    elif ui_field == "RepoUrlPicker":
        f.kind = "repo"
        allowed = options.get("allowedHosts") if isinstance(options.get("allowedHosts"), list) else None
        f.hosts = [str(h) for h in (allowed or hosts)]
        parsed = parse_repo_value(current if isinstance(current, str) else "")
        f.value = parsed
        f.attrs["owners"] = [str(o) for o in options.get("allowedOwners") or []]
        f.attrs["repos"] = [str(r) for r in options.get("allowedRepos") or []]
    elif ui_field == "EntityTagsPicker":
        f.kind = "tags"
        f.value = ", ".join(current) if isinstance(current, list) else (current or "")
    elif kind == "boolean":
        f.kind = "checkbox"
    elif kind in ("number", "integer"):
        f.kind = "number"
        f.attrs["step"] = "1" if kind == "integer" else "any"
        for key in ("minimum", "maximum"):
            if key in prop:
                f.attrs["min" if key == "minimum" else "max"] = prop[key]
    elif kind == "array":
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        if isinstance(items.get("enum"), list):
            f.kind = "checkboxes"
            f.options = _choices(items)
            f.value = current if isinstance(current, list) else []
        elif items.get("type", "string") == "string":
            f.kind = "lines"
            f.value = "\n".join(map(str, current)) if isinstance(current, list) else (current or "")
        else:
            f.kind = "json"
            f.value = json.dumps(current, indent=2) if current is not None else ""
    elif kind == "object" and isinstance(prop.get("properties"), dict):
        f.kind = "object"
        required_children = set(prop.get("required") or [])
        f.children = [_field(child, f"{path}.{child}", p, child in required_children, values, errors, graph=graph,
                             visibility=visibility, claims=claims, hosts=hosts)
                      for child, p in prop["properties"].items() if isinstance(p, dict)]
    elif kind == "object":
        f.kind = "json"
        f.value = json.dumps(current, indent=2) if current is not None else ""
    if isinstance(prop.get("enum"), list) and f.kind in ("text", "number"):
        f.kind = "radio" if widget == "radio" else "select"
        f.options = _choices(prop)
    elif f.kind == "text" and widget == "textarea":
        f.kind = "textarea"
        f.attrs["rows"] = int(options.get("rows") or 5) if str(options.get("rows") or "5").isdigit() else 5
    elif f.kind == "text":
        if ui_field == "EntityNamePicker":
            f.attrs["pattern"] = "[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
            f.attrs["maxlength"] = 63
        if isinstance(prop.get("maxLength"), int):
            f.attrs["maxlength"] = prop["maxLength"]
        if prop.get("format") == "email":
            f.attrs["type"] = "email"
    if widget == "hidden":
        f.attrs["hidden"] = True
    return f


def _choices(prop: dict) -> list[tuple[str, str]]:
    values = prop.get("enum") or []
    names = prop.get("enumNames") if isinstance(prop.get("enumNames"), list) else []
    return [(json.dumps(v) if not isinstance(v, str) else v, str(names[i]) if i < len(names) else str(v))
            for i, v in enumerate(values)]


def _lookup(values: dict, path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def entity_options(graph: Any, ui_field: str, options: dict, visibility: Visibility,
                   claims: frozenset[str]) -> list[tuple[str, str]]:
    """(value, label) of the entities a picker offers, from the catalog, readable by the person."""
    groups = catalog_filter_groups(ui_field, options)
    if ui_field == "OwnedEntityPicker":
        owned = [f"relations.ownedby={c}" for c in sorted(claims)[:50]]
        if not owned:
            return []
        groups = [g + [o] for g in (groups or [[]]) for o in owned]
    filters = catalog.parse_filter_param([",".join(g) for g in groups if g]) if groups else None
    try:
        page = catalog.query_entities(graph, filters=filters, limit=MAX_OPTIONS, visibility=visibility)
    except catalog.QueryError:
        return []
    default_kind = str(options.get("defaultKind") or "").lower() or None
    default_ns = str(options.get("defaultNamespace") or "default").lower()
    out = []
    for entity in page["items"]:
        metadata = entity.get("metadata") or {}
        kind = str(entity.get("kind") or "").lower()
        namespace = str(metadata.get("namespace") or "default").lower()
        name = str(metadata.get("name") or "").lower()
        value = f"{kind}:{namespace}/{name}"
        if default_kind and kind == default_kind:   # Backstage's humanizeEntityRef with the picker's defaults
            value = name if namespace == default_ns else f"{namespace}/{name}"
        out.append((value, metadata.get("title") or name))
    return out


def catalog_filter_groups(ui_field: str, options: dict) -> list[list[str]]:
    """Backstage's catalogFilter (an object or a list of them, OR-ed) / allowedKinds as filter groups."""
    raw = options.get("catalogFilter")
    groups: list[list[str]] = []
    if isinstance(raw, dict):
        raw = [raw]
    if isinstance(raw, list):
        groups = [[f"kind={k}"] for k in raw if isinstance(k, str)]   # a list of kind names (seen in the wild)
        for item in raw:
            if isinstance(item, dict):
                group = []
                for key, value in item.items():
                    for v in (value if isinstance(value, list) else [value]):
                        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
                            group.append((key, str(v)))
                # several values of one key OR together (Backstage's catalogFilter): one group per combination
                by_key: dict[str, list[str]] = {}
                for key, v in group:
                    by_key.setdefault(key, []).append(v)
                combos = [[]]
                for key, vals in by_key.items():
                    combos = [c + [f"{key}={v}"] for c in combos for v in vals]
                groups.extend(combos[:20])
    kinds = options.get("allowedKinds")
    if not groups and isinstance(kinds, list) and kinds:
        groups = [[f"kind={k}"] for k in kinds if isinstance(k, str)]
    if not groups and ui_field == "OwnerPicker":
        groups = [["kind=group"], ["kind=user"]]
    return groups


def parse_repo_value(value: str) -> dict:
    parts = urlsplit("https://" + value) if value else None
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} if parts else {}
    return {"host": parts.netloc if parts else "", "owner": query.get("owner", ""), "repo": query.get("repo", "")}


# ------------------------------------------------------------------------------------------ posted form

def values_from_form(template: Template, form: Any) -> dict:
    """The posted form as template values, typed by the schema; empty inputs are left out (as
    react-jsonschema-form leaves them undefined), so defaults and `required` apply."""
    values: dict = {}
    for index, step in enumerate(template.parameters):
        for name, prop in (step.get("properties") or {}).items():
            if isinstance(prop, dict):
                _read(values, name, name, prop, form)
    for _, name, prop in template.fields():
        if "x-trellis-depends-on" in prop and name not in values:
            _read(values, name, name, prop, form)
    return values


def _read(values: dict, key: str, path: str, prop: dict, form: Any) -> None:
    kind = prop.get("type")
    ui_field = prop.get("ui:field")
    if ui_field == "RepoUrlPicker":
        host, owner, repo = (form.get(f"{path}.host", "").strip(), form.get(f"{path}.owner", "").strip(),
                             form.get(f"{path}.repo", "").strip())
        if host or owner or repo:
            values[key] = f"{host}?{urlencode({k: v for k, v in (('owner', owner), ('repo', repo)) if v})}"
        return
    if kind == "object" and isinstance(prop.get("properties"), dict):
        child: dict = {}
        for name, p in prop["properties"].items():
            if isinstance(p, dict):
                _read(child, name, f"{path}.{name}", p, form)
        if child:
            values[key] = child
        return
    if kind == "boolean":
        raw = form.getlist(path) if hasattr(form, "getlist") else [form.get(path)]
        if raw:
            values[key] = raw[-1] in ("true", "on", "1")
        return
    if kind == "array":
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        if isinstance(items.get("enum"), list):
            chosen = form.getlist(path) if hasattr(form, "getlist") else []
            values[key] = [_typed(v, items) for v in chosen]
            return
        raw = form.get(path, "")
        if ui_field == "EntityTagsPicker":
            tags = [t.strip() for t in raw.replace("\n", ",").split(",") if t.strip()]
            if tags:
                values[key] = tags
            return
        if items.get("type", "string") == "string":
            lines = [line.strip() for line in raw.splitlines() if line.strip()]
            if lines:
                values[key] = lines
            return
        _json_value(values, key, raw)
        return
    raw = form.get(path)
    if raw is None or (isinstance(raw, str) and raw.strip() == "" and ui_field != SECRET_FIELD):
        return
    if raw == "" and ui_field == SECRET_FIELD:
        return
    if kind == "object":
        _json_value(values, key, raw)
        return
    values[key] = _typed(raw, prop)


def _typed(raw: str, prop: dict) -> Any:
    if isinstance(prop.get("enum"), list):
        for option in prop["enum"]:
            if (option if isinstance(option, str) else json.dumps(option)) == raw:
                return option
    kind = prop.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "number":
        try:
            number = float(raw)
            return int(number) if number == int(number) else number
        except (ValueError, OverflowError):
            return raw
    return raw


def _json_value(values: dict, key: str, raw: str) -> None:
    if raw.strip():
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw   # validation reports the type
