"""API definitions for the Definition tab: OpenAPI as a list of operations, everything else as highlighted text.

Output is `Markup` built only from escaped pieces, so definitions (user data) can never inject HTML.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from ingest.descriptors.limits import Limits
from ingest.descriptors.yaml_loader import YamlProblem, load_single

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass
class Operation:
    method: str
    path: str
    summary: str = ""
    operation_id: str = ""
    description: str = ""
    deprecated: bool = False


@dataclass
class OpenApiView:
    title: str = ""
    version: str = ""
    spec_version: str = ""
    description: str = ""
    servers: list[str] = field(default_factory=list)
    groups: list[tuple[str, str, list[Operation]]] = field(default_factory=list)   # (tag, tag description, ops)
    count: int = 0


def parse_openapi(text: str) -> OpenApiView | None:
    """The operations of an OpenAPI 3 / Swagger 2 document (YAML or JSON), grouped by tag; None if not one."""
    # The descriptor loader, not yaml.safe_load: its limits stop an alias bomb in a definition from
    # expanding into gigabytes when the operations are turned into text.
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else load_single(text, Limits())
    except (ValueError, RecursionError, YamlProblem):
        return None
    if not isinstance(doc, dict) or not ({"openapi", "swagger"} & doc.keys()):
        return None
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    view = OpenApiView(
        title=str(info.get("title") or ""), version=str(info.get("version") or ""),
        spec_version=str(doc.get("openapi") or doc.get("swagger") or ""),
        description=str(info.get("description") or ""),
        servers=[str(s.get("url")) for s in doc.get("servers") or [] if isinstance(s, dict) and s.get("url")],
    )
    declared = [t for t in doc.get("tags") or [] if isinstance(t, dict) and t.get("name")]
    order = [str(t["name"]) for t in declared]
    tag_text = {str(t["name"]): str(t.get("description") or "") for t in declared}
    grouped: dict[str, list[Operation]] = {}
    paths = doc.get("paths") if isinstance(doc.get("paths"), dict) else {}
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            operation = Operation(
                method=method.upper(), path=str(path), summary=str(op.get("summary") or ""),
                operation_id=str(op.get("operationId") or ""), description=str(op.get("description") or ""),
                deprecated=bool(op.get("deprecated")),
            )
            tags = [str(t) for t in op.get("tags") or []] or ["default"]
            for tag in tags:
                grouped.setdefault(tag, []).append(operation)
            view.count += 1
    for tag in order + sorted(t for t in grouped if t not in order):
        if tag in grouped:
            view.groups.append((tag, tag_text.get(tag, ""), grouped[tag]))
    return view


# ------------------------------------------------------------------ highlighting

_KEYWORDS = {
    "graphql": {"type", "query", "mutation", "subscription", "input", "enum", "schema", "interface", "union",
                "scalar", "fragment", "extend", "implements", "directive", "on"},
    "grpc": {"syntax", "package", "import", "option", "service", "rpc", "returns", "message", "enum", "repeated",
             "optional", "stream", "oneof", "map", "reserved", "true", "false"},
    "yaml": {"true", "false", "null"},
}
_TOKEN = re.compile(
    r"(?P<comment>#[^\n]*|//[^\n]*)"
    r"|(?P<string>\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*')"
    r"|(?P<key>^[ \t]*(?:- )?[\w$./{}-]+(?=:(?:\s|$)))"
    r"|(?P<number>\b\d+(?:\.\d+)?\b)"
    r"|(?P<word>[A-Za-z_]\w*)",
    re.MULTILINE,
)


def language_of(api_type: str | None, text: str) -> str:
    kind = (api_type or "").lower()
    if kind in ("graphql", "grpc"):
        return kind
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        return "json"
    return "yaml"


def highlight(text: str, language: str) -> Markup:
    """`text` escaped, with comments, strings, keys, numbers and keywords wrapped in spans."""
    keywords = _KEYWORDS.get(language, set())
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(str(escape(text[pos:m.start()])))
        kind = m.lastgroup
        token = m.group()
        if kind == "comment" and language == "json":
            kind = None
        elif kind == "comment" and token.startswith("//") and language in ("yaml",):
            kind = None
        elif kind == "comment" and token.startswith("#") and language in ("grpc",):
            kind = None
        elif kind == "key" and language not in ("yaml",):
            kind = None
        elif kind == "word":
            kind = "keyword" if token in keywords else None
        if kind == "string" and language == "json" and text[m.end():m.end() + 1] == ":":
            kind = "key"
        if kind:
            out.append(f'<span class="hl-{kind}">{escape(token)}</span>')
        else:
            out.append(str(escape(token)))
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))
