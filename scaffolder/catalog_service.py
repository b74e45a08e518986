"""The catalog as scaffolder actions see it (`ctx.catalog`): register a location, read entities, preview.

- `register` ingests a location through `ingest.sync.ingest` (the shared path: validation, ownership,
  conflicts) bound by the catalog rules the initiator would meet registering it in the portal. Local paths
  and git URLs (the bare repository publish:git made) are registered as they are. GitHub/GitLab web URLs
  (`.../blob/main` + `catalogInfoPath`, as publish:github/gitlab output them) are turned into the clone URL
  the host's REST API reports for that repository and cloned (ingest.git, through the shared integrations,
  with the host's own token when its integration names one). Not yet a URL location (ingest.url_locations):
  the registered location is the clone URL, so the entity carries no view/edit URL of the file.
- `get_entity`/`get_entities` apply the initiator's visibility.
- `preview` places would-be entities in the graph (owner, system, what they depend on, whether each exists).
"""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from graph import catalog
from graph import scaffolder as store
from graph.model import RELATION_NAMES, RefError, parse_ref, relations_of
from ingest.descriptors.validation import entity_ref
from ingest.git import GitError
from ingest.sync import IngestError, ingest, validate_descriptor
from plugins.api import ActionError
from scaffolder.integrations import REPOSITORY_HOSTS, Integrations, adapt

if TYPE_CHECKING:
    from graph.driver import Graph
    from graph.visibility import Visibility

_WEB_URL = re.compile(r"^(?P<repo>https?://[^?#]+?)(?:/-)?/(?:tree|blob)/(?P<ref>[^/]+)(?:/(?P<path>.*))?$")


def allowed_kinds(rules: list[dict] | None, target: str) -> frozenset[str] | None:
    """app.locations.catalog_rules for `target`, lower-cased (None: no rules, i.e. an operator's run)."""
    if rules is None:
        return None
    general: set[str] = set()
    specific: set[str] = set()
    matched = False
    for rule in rules:
        kinds = {str(k).lower() for k in rule.get("allow") or []}
        pattern = rule.get("target")
        if pattern is None:
            general |= kinds
        elif fnmatch.fnmatchcase(target, str(pattern)):
            matched = True
            specific |= kinds
    return frozenset(specific if matched else general)


class CatalogService:
    def __init__(self, graph: "Graph | None", *, visibility: "Visibility", integrations: "Integrations",
                 catalog_rules: list[dict] | None, http: Any = None, trigger: str = "scaffolder",
                 local_roots: tuple[Path, ...] = ()) -> None:
        self.graph = graph
        self.local_roots = tuple(Path(r).resolve() for r in local_roots)   # scaffolder.git_roots
        self.visibility = visibility
        self.integrations = adapt(integrations)
        self.catalog_rules = catalog_rules
        self.http = http                  # services.http_request bound to the task (allow-list, masking)
        self.trigger = trigger
        self.registered: list[str] = []

    # -------------------------------------------------------------- register

    def register(self, target: str, *, catalog_info_path: str | None = None, optional: bool = False) -> list[str]:
        location, patterns = self._location(target, catalog_info_path)
        self._check_reachable(location)
        if self.graph is None:
            raise ActionError("registering needs the catalog database")
        kinds = allowed_kinds(self.catalog_rules, location)
        try:
            # a person's registration (their catalog rules, repository trust) unless an operator runs the
            # template; a clone goes through the same integrations as every other outbound request
            result = ingest(self.graph, location, patterns=patterns, allowed_kinds=kinds, trigger=self.trigger,
                            integrations=self.integrations.shared)
        except (IngestError, GitError, OSError) as exc:
            raise ActionError(f"registering {location} failed: {exc}") from None
        problems = [f"{r.get('file')}: {r.get('field') or ''} {r.get('reason')}".strip() for r in result.rejected]
        problems += [c.get("reason") for c in result.conflicts]
        if problems:
            raise ActionError("the catalog refused what the template produced: " + "; ".join(problems[:5]))
        refs = [row["ref"] for row in store.entities_of_source(self.graph, result.source)]
        self.registered.extend(refs)
        return refs

    def _check_reachable(self, location: str) -> None:
        """A template may register only what a task could have published: a repository under
        scaffolder.git_roots, or an https URL of an allowed integration. Never another folder of the server
        (the operator's org files would become the template author's) nor an internal git URL."""
        where = "a repository under scaffolder.git_roots or a URL of an allowed integration host"
        if location.startswith(("https://", "http://")):
            if self.integrations.for_url(location) is None:
                raise ActionError(f"{urlsplit(location).netloc}: templates may register only {where}")
            return
        path_text = location[len("file://"):] if location.startswith("file://") else location
        if "://" in path_text or not path_text.startswith("/") or ":" in path_text.split("/", 1)[0]:
            raise ActionError(f"{location[:80]}: templates may register only {where}")
        path = Path(path_text).resolve()
        if not any(path == root or path.is_relative_to(root) for root in self.local_roots):
            raise ActionError(f"{path_text}: templates may register only {where}")

    def _location(self, target: str, path: str | None) -> tuple[str, list[str] | None]:
        patterns = [path.lstrip("/")] if path else None
        match = _WEB_URL.match(target.rstrip("/")) if target.startswith(("https://", "http://")) else None
        if match is None and path is None and target.startswith(("https://", "http://")):
            raise ActionError(f"{target}: name the repository (repoContentsUrl) and catalogInfoPath, or a "
                              f"/blob/<branch>/<path> URL")
        if match is None:
            return target, patterns
        sub = (match["path"] or "").strip("/")
        if path is None:
            patterns = [sub] if sub else None
        elif sub:
            patterns = [f"{sub}/{path.lstrip('/')}"]
        return self._clone_url(match["repo"]), patterns

    def _clone_url(self, web_url: str) -> str:
        integration = self.integrations.for_url(web_url)
        if integration is None or self.http is None:
            raise ActionError(f"{urlsplit(web_url).netloc} is not an allowed integration host")
        if integration.type not in REPOSITORY_HOSTS:
            raise ActionError(f"{web_url}: registering a web URL needs a GitHub or GitLab integration for its host "
                              f"(it is a `{integration.type}` integration); name the clone URL instead")
        path = urlsplit(web_url).path.strip("/")
        if integration.type == "github":
            status, repo = self.http("GET", f"{integration.api_base_url}/repos/{path}")
            clone = repo.get("clone_url") if status == 200 and isinstance(repo, dict) else None
        else:
            status, repo = self.http("GET", f"{integration.api_base_url}/projects/{quote(path, safe='')}",
                                     auth_scheme="PRIVATE-TOKEN")
            clone = repo.get("http_url_to_repo") if status == 200 and isinstance(repo, dict) else None
        if not clone or not integration.allows(clone):
            raise ActionError(f"{web_url}: the repository was not found on its host (HTTP {status})")
        return clone

    # -------------------------------------------------------------- read

    def get_entity(self, ref: str, defaultKind: str | None = None, defaultNamespace: str | None = None) -> dict | None:  # noqa: N803

        if self.graph is None:
            return None
        try:
            canonical = str(parse_ref(ref, default_kind=defaultKind, default_namespace=defaultNamespace or "default"))
        except RefError as exc:
            raise ActionError(f"{ref!r} is not an entity ref: {exc}") from None
        return catalog.get_entity(self.graph, canonical, self.visibility)

    def get_entities(self, refs: list[str], defaultKind: str | None = None,  # noqa: N803
                     defaultNamespace: str | None = None) -> list[dict | None]:
        return [self.get_entity(ref, defaultKind, defaultNamespace) for ref in refs]

    # -------------------------------------------------------------- preview

    def preview(self, entities: list[dict]) -> list[dict]:
        return preview_entities(self.graph, entities, self.visibility)


def preview_entities(graph: "Graph | None", entities: list[dict], visibility: "Visibility") -> list[dict]:
    """Each would-be entity with its validation problems and its relations, each target marked as existing
    (and readable), missing (it would be a placeholder) or hidden."""
    out = []
    wanted: list[str] = []
    staged = []
    for entity in entities:
        checked, found_problems = validate_descriptor(entity)
        problems = [{"field": p.field, "reason": p.reason} for p in found_problems]
        ref = entity_ref(checked) if isinstance(checked, dict) and not found_problems else None
        relations = []
        if ref:
            metadata = checked.get("metadata") or {}
            found = relations_of(checked.get("kind", ""), (metadata.get("namespace") or "default").lower(), ref,
                                 checked.get("spec"))
            for rel in found.relations:
                outgoing = rel.source == ref
                name = RELATION_NAMES[rel.type][0 if outgoing else 1]
                other = rel.target if outgoing else rel.source
                relations.append({"type": name, "target": other})
                wanted.append(other)
            problems += [{"field": p.field, "reason": p.reason} for p in found.problems]
            wanted.append(ref)
        staged.append((entity, ref, problems, relations))
    known = store.existing_refs(graph, wanted) if graph is not None else {}
    created = {ref for _, ref, _, _ in staged if ref}
    for entity, ref, problems, relations in staged:
        for rel in relations:
            facts = known.get(rel["target"])
            if rel["target"] in created:
                rel["state"] = "new"
            elif facts is None:
                rel["state"] = "missing"
            elif facts.get("unresolved"):
                rel["state"] = "placeholder"
            elif visibility.can_read({"kind": facts.get("kind"), "owner": facts.get("owner"),
                                      "restricted": False}):
                rel["state"] = "exists"
                rel["title"] = facts.get("title")
            else:
                rel["state"] = "hidden"
        existing = known.get(ref) if ref else None
        metadata = (entity.get("metadata") or {}) if isinstance(entity, dict) else {}
        out.append({
            "ref": ref, "kind": entity.get("kind") if isinstance(entity, dict) else None,
            "title": metadata.get("title") or metadata.get("name"),
            "problems": problems,
            "exists": bool(existing and not existing.get("unresolved")),
            "existing_source": existing.get("source") if existing else None,
            "owner": next((r for r in relations if r["type"] == "ownedBy"), None),
            "system": next((r for r in relations if r["type"] == "partOf"), None),
            "relations": relations,
        })
    return out
