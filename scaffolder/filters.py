"""Backstage's template filters: parseRepoUrl, parseEntityRef, pick, projectSlug (same inputs, same outputs).

`parseRepoUrl` needs the integrations (Backstage refuses a host without one: the RepoUrlPicker's
`github.com?owner=o&repo=r` must name a configured host); errors name the filter and the value.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from jinja2.runtime import Undefined

from scaffolder.expressions import RenderError
from scaffolder.integrations import Integrations

_PARAMS = ("owner", "organization", "workspace", "project", "repo")


def parse_repo_url(value: Any, integrations: Integrations) -> dict:
    """`host?owner=o&repo=r` -> {host, owner, repo, organization?, workspace?, project?}."""
    if not isinstance(value, str) or not value:
        raise RenderError(f"parseRepoUrl: expected a repository URL like github.com?owner=o&repo=r, got {value!r}")
    parts = urlsplit("https://" + value)
    host = parts.netloc
    if not host:
        raise RenderError(f"parseRepoUrl: invalid repository URL {value!r}")
    integration = integrations.by_host(host)
    if integration is None:
        raise RenderError(f"parseRepoUrl: no integration is configured for host {host} (integrations: in "
                          f"TRELLIS_CONFIG)")
    query = parse_qs(parts.query, keep_blank_values=True)
    found = {name: query[name][0].strip("/") for name in _PARAMS if name in query}
    needed = ("repo",) if integration.type == "gitlab" and found.get("project") else ("owner", "repo")
    for name in needed:
        if not found.get(name):
            raise RenderError(f"parseRepoUrl: invalid repository URL {value!r}, missing {name}")
    return {"host": host, **found}


def parse_entity_ref(value: Any, context: Any = None) -> dict:
    """Backstage's parseEntityRef: `[kind:][namespace/]name` with `{defaultKind, defaultNamespace}`."""
    if isinstance(value, Mapping):   # already parsed
        return dict(value)
    if not isinstance(value, str) or not value.strip():
        raise RenderError(f"parseEntityRef: expected an entity ref string, got {value!r}")
    context = context if isinstance(context, Mapping) else {}
    text = value.strip()
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = "", text
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = "", rest
    kind = kind or context.get("defaultKind") or ""
    namespace = namespace or context.get("defaultNamespace") or "default"
    if not kind:
        raise RenderError(f'parseEntityRef: entity reference "{value}" had missing or empty kind (e.g. did not '
                          f'start with "component:" or similar)')
    if not name or "/" in name or ":" in name:
        raise RenderError(f'parseEntityRef: entity reference "{value}" had missing or empty name')
    return {"kind": kind, "namespace": namespace, "name": name}


def pick(value: Any, path: Any) -> Any:
    """lodash `get(obj, path)`: dots and [index] brackets; missing is undefined (prints as "")."""
    if not isinstance(path, str):
        return None
    current = value
    for part in path.replace("[", ".").replace("]", "").split("."):
        if part == "":
            continue
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, (list, tuple)) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
        if current is None or isinstance(current, Undefined):
            return None
    return current


def backstage_filters(integrations: Integrations) -> dict[str, Callable[..., Any]]:
    """The four filters every Backstage template may use."""
    def project_slug(value: Any) -> str:
        parsed = parse_repo_url(value, integrations)
        return f"{parsed.get('owner')}/{parsed.get('repo')}"

    return {
        "parseRepoUrl": lambda value: parse_repo_url(value, integrations),
        "parseEntityRef": parse_entity_ref,
        "pick": pick,
        "projectSlug": project_slug,
    }
