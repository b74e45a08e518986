"""What the portal, the REST API and the CLI call: templates, tasks, dry runs. No Flask here.

Who may do what is decided by the caller (app.auth) and handed in as an `Initiator`: the policy actions the
person holds (running needs "run"; `catalog:register` steps need "ingest"), their visibility (templates
and entities they may read) and the catalog rules their registrations meet. The worker applies exactly
what was decided when the task was created.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph import catalog
from graph import scaffolder as store
from graph.visibility import EVERYTHING, Visibility
from ingest.descriptors import read_catalog
from ingest.descriptors.limits import Limits
from ingest.descriptors.yaml_loader import YamlProblem, load_single
from plugins.registry import registry as loaded
from scaffolder.catalog_service import CatalogService, preview_entities
from scaffolder.config import ScaffolderConfig, load_config
from scaffolder.initiator import Initiator
from scaffolder.integrations import Integrations, adapt
from scaffolder.recorder import Masker, MemoryRecorder
from scaffolder.runner import CancelWatch, new_task_id, run_task
from scaffolder.sealing import seal
from scaffolder.services import TemplateBase
from scaffolder.tasks import QUEUE, send_task
from scaffolder.template import Template, TemplateError

if TYPE_CHECKING:
    from graph.driver import Graph

MANAGED_BY_LOCATION = "backstage.io/managed-by-location"
MANAGED_BY_ORIGIN = "backstage.io/managed-by-origin-location"
CATALOG_FILES = ("catalog-info.yaml", "catalog-info.yml")


class TaskRequestError(ValueError):
    """A request to run a template the API answers with a 4xx: `status`, `code`, `details`."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


# ------------------------------------------------------------------------------------------ templates

def list_templates(graph: "Graph", visibility: Visibility, *, type_: str | None = None, tag: str | None = None,
                   owner: str | None = None, text: str | None = None, limit: int = 200) -> list[dict]:
    group = ["kind=template"]
    if type_:
        group.append(f"spec.type={type_}")
    if tag:
        group.append(f"metadata.tags={tag}")
    if owner:
        group.append(f"relations.ownedby={owner}")
    filters = catalog.parse_filter_param([",".join(group)])
    page = catalog.query_entities(graph, filters=filters, text=text or None, limit=limit, visibility=visibility)
    return [summary(entity) for entity in page["items"]]


def summary(entity: dict) -> dict:
    metadata = entity.get("metadata") or {}
    spec = entity.get("spec") or {}
    owner = next((r["targetRef"] for r in entity.get("relations") or [] if r.get("type") == "ownedBy"), None)
    namespace = metadata.get("namespace") or "default"
    return {"ref": f"template:{namespace}/{metadata.get('name')}".lower(), "namespace": namespace,
            "name": metadata.get("name"), "title": metadata.get("title") or metadata.get("name"),
            "description": metadata.get("description"), "type": spec.get("type"), "tags": metadata.get("tags") or [],
            "owner": owner, "etag": metadata.get("etag"),
            "time_saved": (metadata.get("annotations") or {}).get("backstage.io/time-saved"),
            "time_saved_text": duration_text((metadata.get("annotations") or {}).get("backstage.io/time-saved"))}


_ISO_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?)?$")


def duration_text(value: Any) -> str | None:
    """Backstage's `backstage.io/time-saved` (ISO 8601, `PT1H30M`) as people read it (`1 h 30 min`); a value
    in another shape is shown as written."""
    if not isinstance(value, str) or not value.strip():
        return None
    match = _ISO_DURATION.match(value.strip().upper())
    if not match or not any(match.groupdict().values()):
        return value
    parts = [f"{int(n)} {unit}" for n, unit in ((match["d"], "d"), (match["h"], "h"), (match["m"], "min"))
             if n and int(n)]
    return " ".join(parts) or value


def get_template(graph: "Graph", ref: str, visibility: Visibility) -> Template | None:
    entity = catalog.get_entity(graph, ref, visibility)
    if entity is None or (entity.get("kind") or "").lower() != "template":
        return None
    try:
        return Template.from_entity(entity, ref)
    except TemplateError as exc:
        raise TaskRequestError(422, "invalid_template", f"{ref}: {exc}") from None


def template_base(entity: dict) -> TemplateBase:
    """Where the template's relative `url:`s resolve: its folder, confined to its git working tree or the
    registered location; or the URL it was read from."""
    annotations = (entity.get("metadata") or {}).get("annotations") or {}
    location = str(annotations.get(MANAGED_BY_LOCATION) or "")
    if location.startswith("file:"):
        file = Path(location[5:]).resolve()
        folder = file.parent
        root = None
        for candidate in (folder, *folder.parents):
            if (candidate / ".git").exists():
                root = candidate
                break
        if root is None:
            origin = str(annotations.get(MANAGED_BY_ORIGIN) or "")
            if origin.startswith("file:"):
                path = Path(origin[5:]).resolve()
                root = path if path.is_dir() else path.parent
        return TemplateBase(dir=folder, root=root if root is not None and folder.is_relative_to(root) else folder)
    if location.startswith("url:"):
        return TemplateBase(url=location[4:])
    return TemplateBase()


# ------------------------------------------------------------------------------------------ tasks

def _prepared(template: Template, values: Any, secrets: Any) -> tuple[dict, dict]:
    try:
        prepared, sealed_secrets, problems = template.prepare(values, secrets)
    except TemplateError as exc:
        raise TaskRequestError(422, "invalid_template", f"{template.ref}: {exc}") from None
    if problems:
        raise TaskRequestError(400, "invalid_values", "some values are missing or invalid",
                               {"fields": [p.as_dict() for p in problems]})
    return prepared, sealed_secrets


def _user(graph: "Graph", initiator: Initiator) -> dict:
    entity = catalog.get_entity(graph, initiator.user_ref, EVERYTHING) if initiator.user_ref else None
    return {"ref": initiator.user_ref, "entity": entity}


def create_task(graph: "Graph", template: Template, values: Any, secrets: Any, initiator: Initiator, *,
                rerun_of: str | None = None, send: Any = None) -> dict:
    """Validate, record (values masked, secrets only as names) and queue a run; returns the task record."""
    if "run" not in initiator.actions:
        raise TaskRequestError(403, "forbidden", "running templates needs the role configured for it "
                                                 "(permissions: {Template: {run: ...}}, editor by default)")
    prepared, task_secrets = _prepared(template, values, secrets)
    task_id = new_task_id()
    masker = Masker(task_secrets.values())
    base = template_base(template.entity)
    record = {
        "id": task_id, "template_ref": template.ref, "template_title": template.title,
        "template_etag": template.etag, "template_source": _source_of(template.entity),
        "spec": {"template": template.entity, "base": base.as_json()},
        "values": masker.data(prepared), "secret_keys": sorted(task_secrets), "created_by": initiator.id,
        "created_by_label": initiator.label, "user_ref": initiator.user_ref, "dry_run": False,
        "allowed": initiator.access_json(), "rerun_of": rerun_of, "status": "open",
    }
    store.create_task(graph, record)
    (send or enqueue)(task_id, task_secrets)
    return store.get_task(graph, task_id)


def enqueue(task_id: str, task_secrets: dict[str, str]) -> None:
    """Queue the run on the `scaffolder` queue; secrets sealed for the worker."""
    send_task(task_id, seal(task_secrets), queue=QUEUE)


def _source_of(entity: dict) -> str | None:
    annotations = (entity.get("metadata") or {}).get("annotations") or {}
    return annotations.get(MANAGED_BY_LOCATION)


def dry_run(graph: "Graph | None", template: Template, values: Any, initiator: Initiator, *,
            base: TemplateBase | None = None, config: ScaffolderConfig | None = None,
            integrations: Integrations | None = None, registry: Any = None) -> dict:
    """Run the template against a scratch workspace with no side effects (secrets empty, actions that cannot
    dry-run skipped) and answer the log, the steps, every file, the output, and the catalog entities the run
    would register placed in the graph."""
    if "run" not in initiator.actions:
        raise TaskRequestError(403, "forbidden", "dry runs execute the template's steps and need the role "
                                                 "configured for running templates")
    prepared, _ = _prepared(template, values, None)
    config = config or load_config()
    integrations = adapt(integrations)
    if registry is None:
        registry = loaded()
    masker = Masker()
    recorder = MemoryRecorder(masker)
    catalog = CatalogService(graph, visibility=initiator.visibility, integrations=integrations,
                             catalog_rules=initiator.catalog_rules,
                             local_roots=config.git_roots)
    task_id = "dry-run-" + new_task_id()[:12]
    started = time.perf_counter()
    with CancelWatch(None, config.task_timeout) as watch:
        result = run_task(template=template, task_id=task_id, values=prepared, secrets={},
                          user=_user(graph, initiator) if graph is not None else {"ref": initiator.user_ref},
                          base=base or template_base(template.entity), registry=registry, catalog=catalog,
                          integrations=integrations, config=config, recorder=recorder, cancel=watch, dry_run=True,
                          allowed=set(initiator.actions), inspect=read_catalog_files)
    entities, problems = result.inspected or ([], [])
    return {
        "template": template.ref, "status": result.status, "error": result.error, "steps": result.steps,
        "log": recorder.events, "output": result.output, "files": result.files or [],
        "catalog": {"files": [f["path"] for f in result.files or [] if f["path"].rsplit("/", 1)[-1] in CATALOG_FILES],
                    "entities": preview_entities(graph, entities, initiator.visibility) if entities else [],
                    "rejected": problems},
        "values": prepared, "seconds": round(time.perf_counter() - started, 3),
    }


def read_catalog_files(workspace: Path) -> tuple[list[dict], list[dict]]:
    """The entities the run's catalog-info files declare, read exactly as the catalog would read them once
    registered (the bounded YAML loader, `$text`/`$json`/`$yaml` substitutions inside the workspace), and the
    documents it would reject."""
    files = [p for p in sorted(workspace.rglob("catalog-info.y*ml")) if p.name in CATALOG_FILES and p.is_file()]
    entities: list[dict] = []
    problems: list[dict] = []
    for path in files[:20]:
        read = read_catalog(path, root=workspace)
        entities.extend(d.entity for d in read.documents)
        problems.extend(r.as_dict() for r in read.rejections)
    return entities[:100], problems


def rerun(graph: "Graph", task: dict, initiator: Initiator, secrets: Any = None, *, send: Any = None) -> dict:
    """A new task from a recorded one: the same template revision (its stored snapshot) and values. Secrets
    were never stored, so a task that had some needs them again."""
    missing = [k for k in task.get("secret_keys") or [] if not (isinstance(secrets, dict) and secrets.get(k))]
    if missing:
        raise TaskRequestError(400, "secrets_required", "this task used secrets, which are never stored: send them "
                                                        "again to re-run it", {"secrets": missing})
    spec = task.get("spec") or {}
    template = Template.from_entity(spec.get("template") or {}, task.get("template_ref"))
    return create_task(graph, template, task.get("values") or {}, secrets, initiator, rerun_of=task["id"], send=send)


def public_task(task: dict) -> dict:
    """A task as the API shows it (the template snapshot and access data stay inside)."""
    out = {k: v for k, v in task.items() if k not in ("spec", "allowed", "cancel_requested", "event_count")}
    out["cancel_requested"] = bool(task.get("cancel_requested"))
    return out


def parse_template_yaml(text: str) -> dict:
    """A pasted template (dry runs of templates not in the catalog): one YAML document, size-bounded, through
    the catalog's own loader (aliases, depth, duplicate keys)."""
    if len(text) > 1024 * 1024:
        raise TaskRequestError(400, "invalid_template", "the template is larger than 1 MiB")
    try:
        document = load_single(text, Limits())
    except YamlProblem as exc:
        raise TaskRequestError(400, "invalid_template", f"the template is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise TaskRequestError(400, "invalid_template", "paste exactly one Template document")
    return document
