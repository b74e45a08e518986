"""Software Templates over the REST API: templates, their parameter schema, tasks (create, dry run, read,
events, cancel, re-run) and the installed actions. Thin views over scaffolder.service; documented in
app.api.openapi.

Access: templates are entities (visibility applies: an unreadable template is a 404); running or dry-running
needs the "run" action (Template's run role, editor by default); a task is visible to whoever created it and
to admins. Every create, dry run, cancel and re-run is audited with the values (secrets never: only their
names).
"""
from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path

from flask import current_app, jsonify, request, url_for

from app.api import bp
from app.api.params import bad, int_arg, json_body, str_arg, to_ref
from app.auth import access
from app.auth.audit import audit
from app.auth.principal import current_principal
from app.errors import ApiError
from app.graph_access import get_graph
from graph import scaffolder as store
from plugins.registry import registry
from scaffolder import service
from scaffolder.recorder import Masker
from scaffolder.service import Initiator, TaskRequestError
from scaffolder.template import Template, TemplateError
from scaffolder.workspace import WorkspaceError, safe_child

TASK_STATUSES = store.STATUSES
MAX_DIRECTORY_FILES = 2000
MAX_DIRECTORY_BYTES = 20 * 1024 * 1024


def initiator() -> Initiator:
    """The current reader as the scaffolder sees them (decided here, applied by the worker)."""
    principal = current_principal()
    actions = {a for a in ("read", "run", "ingest") if access.can(a, kind="Template" if a == "run" else None)}
    if access.can("admin"):
        actions.add("admin")
    user_ref = principal.user_ref if principal else None
    if principal is not None and principal.provider == "token" and (principal.token_owner or "").startswith("user:"):
        user_ref = principal.token_owner
    return Initiator(id=principal.id if principal else "anonymous", label=principal.label if principal else "anonymous",
                     user_ref=user_ref, actions=actions, visibility=access.visibility(),
                     catalog_rules=list(current_app.config.get("TRELLIS_CATALOG_RULES") or []))


def _error(exc: TaskRequestError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.details)


def visible_template(ref: str) -> Template:
    """The template `ref` if the reader may read it (404 otherwise, as for any entity)."""
    try:
        template = service.get_template(get_graph(), ref, access.visibility())
    except TaskRequestError as exc:
        raise _error(exc) from None
    if template is None:
        raise ApiError(404, "not_found", f"{ref} is not a template in the catalog", {"ref": ref})
    return template


def readable_task(task_id: str) -> dict:
    """A task its creator or an admin may see; everyone else gets the 404 an unknown id gets."""
    task = store.get_task(get_graph(), task_id)
    principal_id = initiator().id
    if task is None or (task.get("created_by") != principal_id and not access.can("admin")):
        raise ApiError(404, "not_found", f"no task {task_id}", {"id": task_id})
    return task


def _audit_values(template: str, values: object, secrets: object, *, dry_run: bool, outcome: str = "ok",
                  action: str = "scaffolder.task.create", task: str | None = None, error: str | None = None) -> None:
    details = {"template": template, "dry_run": dry_run,
               "secrets": sorted(secrets) if isinstance(secrets, dict) else [], "task": task}
    if isinstance(values, dict):
        masker = Masker(v for v in (secrets or {}).values() if isinstance(v, str)) if isinstance(secrets, dict) \
            else Masker()
        details["values"] = masker.data(values)
    if error:
        details["error"] = error
    audit(action, outcome, target=template, details=details)


# ------------------------------------------------------------------------------------------ templates

@bp.get("/templates")
def list_templates():
    access.require("read")
    type_ = str_arg("type", max_len=200)
    tag = str_arg("tag", max_len=200)
    owner = str_arg("owner", max_len=500)
    if owner:
        owner = to_ref(owner, "owner", default_kind="group")
    items = service.list_templates(get_graph(), access.visibility(), type_=type_, tag=tag, owner=owner,
                                   text=str_arg("q", max_len=200))
    return jsonify({"items": items, "can_run": access.can("run", kind="Template")})


@bp.get("/templates/<namespace>/<name>/parameter-schema")
def template_parameter_schema(namespace: str, name: str):
    access.require("read")
    ref = to_ref(f"template:{namespace}/{name}", "template")
    return jsonify(visible_template(ref).parameter_schema())


@bp.get("/scaffolder/actions")
def list_actions():
    """The installed actions (built-in and plugins') with their schemas, as Backstage's /v2/actions."""
    access.require("read")
    return jsonify({"items": [{"id": a.id, "description": a.description, "permission": a.permission,
                               "supportsDryRun": a.supports_dry_run,
                               "schema": {"input": a.input_schema, "output": a.output_schema}}
                              for a in registry().actions()]})


# ------------------------------------------------------------------------------------------ tasks

@bp.post("/tasks")
def create_task():
    access.require("read")
    body = json_body()
    dry = body.get("dryRun", False)
    if not isinstance(dry, bool):
        raise bad("dryRun must be a boolean", "invalid_body")
    values, secrets = body.get("values", {}), body.get("secrets")
    if not isinstance(values, dict):
        raise bad("values must be an object", "invalid_body")
    if secrets is not None and (not isinstance(secrets, dict)
                                or not all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items())):
        raise bad("secrets must be an object of strings", "invalid_body")
    if body.get("template") is not None:
        if not dry:
            raise bad("a template given inline can only be dry-run; register it to run it", "invalid_body")
        return _inline_dry_run(body, values)
    raw_ref = body.get("templateRef")
    if not isinstance(raw_ref, str) or not raw_ref.strip():
        raise bad("templateRef is required (template:namespace/name)", "invalid_body")
    ref = to_ref(raw_ref, "templateRef", default_kind="template")
    template = visible_template(ref)
    who = initiator()
    if "run" not in who.actions:
        _audit_values(ref, values, secrets, dry_run=dry, outcome="denied")
        access.require("run", kind="Template")
    try:
        if dry:
            result = service.dry_run(get_graph(), template, values, who)
            _audit_values(ref, result.get("values"), secrets, dry_run=True, action="scaffolder.dry_run")
            return jsonify(result)
        task = service.create_task(get_graph(), template, values, secrets, who, send=_send)
    except TaskRequestError as exc:
        _audit_values(ref, values, secrets, dry_run=dry, outcome="failed", error=exc.code)
        raise _error(exc) from None
    _audit_values(ref, task.get("values"), secrets, dry_run=False, task=task["id"])
    link = url_for("api.get_task", task_id=task["id"])
    return jsonify({"id": task["id"], "status": task["status"], "url": link}), 201, {"Location": link}


def _send(task_id: str, task_secrets: dict) -> None:
    """Queue the task; when the job queue is down the task is failed with the reason and the answer is a 503."""
    try:
        service.enqueue(task_id, task_secrets)
    except Exception as exc:   # kombu/redis wrap connection failures in their own types
        if isinstance(exc, (ConnectionError, OSError)) or "OperationalError" in type(exc).__name__ \
                or "Connection" in type(exc).__name__:
            store.update_task(get_graph(), task_id, status="failed", finished_at=store.now_ms(),
                              error="the job queue (Redis) is not reachable; nothing ran")
            raise ApiError(503, "jobs_unavailable", "the job queue is not reachable: the task was not started",
                           {"task": task_id}) from None
        raise


def _inline_dry_run(body: dict, values: dict):
    """Backstage's template editor: a template not in the catalog, with its files (`directoryContents`)."""
    access.require("run", kind="Template")
    entity = body.get("template")
    if not isinstance(entity, dict):
        try:
            entity = service.parse_template_yaml(str(entity))
        except TaskRequestError as exc:
            raise _error(exc) from None
    try:
        template = Template.from_entity(entity)
    except TemplateError as exc:
        raise ApiError(400, "invalid_template", str(exc)) from None
    contents = body.get("directoryContents") or []
    if not isinstance(contents, list) or len(contents) > MAX_DIRECTORY_FILES:
        raise bad(f"directoryContents must be a list of at most {MAX_DIRECTORY_FILES} files", "invalid_body")
    scratch = Path(tempfile.mkdtemp(prefix="trellis-dry-run-"))
    try:
        write_directory(scratch, [(f.get("path"), f.get("base64Content")) for f in contents if isinstance(f, dict)])
        try:
            result = service.dry_run(get_graph(), template, values, initiator(),
                                     base=service.TemplateBase(dir=scratch, root=scratch))
        except TaskRequestError as exc:
            raise _error(exc) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _audit_values(template.ref, result.get("values"), None, dry_run=True, action="scaffolder.dry_run")
    return jsonify(result)


def write_directory(root: Path, files: list[tuple[object, object]]) -> None:
    """Uploaded skeleton files into a scratch folder: relative paths only (no `..`, no absolute paths, no
    links), base64 contents, size-bounded."""
    total = 0
    for path, content in files:
        if not isinstance(path, str) or not isinstance(content, str):
            raise bad("each directoryContents entry needs path and base64Content strings", "invalid_body")
        try:
            data = base64.b64decode(content, validate=True)
        except ValueError:
            raise bad(f"{path}: base64Content is not base64", "invalid_body") from None
        total += len(data)
        if total > MAX_DIRECTORY_BYTES:
            raise bad(f"the uploaded files are larger than {MAX_DIRECTORY_BYTES:,} bytes", "invalid_body")
        try:
            target = safe_child(root, path, what="directoryContents path")
        except WorkspaceError as exc:
            raise bad(str(exc), "invalid_body") from None
        if target == root or ".git" in Path(path).parts:
            raise bad(f"{path}: not a usable file path", "invalid_body")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@bp.get("/tasks")
def list_tasks():
    access.require("read")
    status = str_arg("status", max_len=20)
    if status is not None and status not in TASK_STATUSES:
        raise bad(f"status must be one of {', '.join(TASK_STATUSES)}", details={"status": status})
    limit = int_arg("limit", 50, 1, 500)
    offset = int_arg("offset", 0, 0, 100_000)
    scope = str_arg("createdBy", max_len=500)
    who = initiator()
    if access.can("admin"):
        created_by = None if scope in (None, "all") else (who.id if scope == "me" else scope)
    else:
        created_by = who.id
    graph = get_graph()
    items = [service.public_task(t) for t in store.list_tasks(graph, created_by=created_by, status=status,
                                                               limit=limit, offset=offset)]
    total = store.count_tasks(graph, created_by=created_by, status=status)
    return jsonify({"items": items, "total": total, "limit": limit, "offset": offset})


@bp.get("/tasks/<task_id>")
def get_task(task_id: str):
    access.require("read")
    return jsonify(service.public_task(readable_task(task_id)))


@bp.get("/tasks/<task_id>/events")
def task_events(task_id: str):
    access.require("read")
    after = int_arg("after", 0, 0, 10**9)
    task = readable_task(task_id)
    items = store.events(get_graph(), task_id, after=after)
    return jsonify({"items": items, "status": task["status"], "steps": task.get("steps") or [],
                    "output": task.get("output"), "error": task.get("error")})


@bp.post("/tasks/<task_id>/cancel")
def cancel_task(task_id: str):
    access.require("read")
    task = readable_task(task_id)
    status = store.request_cancel(get_graph(), task_id)
    audit("scaffolder.task.cancel", "ok", target=task.get("template_ref"), details={"task": task_id,
                                                                                   "status": status})
    return jsonify({"id": task_id, "status": status}), 202


@bp.post("/tasks/<task_id>/rerun")
def rerun_task(task_id: str):
    access.require("read")
    access.require("run", kind="Template")
    task = readable_task(task_id)
    body = request.get_json(silent=True) or {}
    secrets = body.get("secrets") if isinstance(body, dict) else None
    visible_template(task["template_ref"])   # still readable by this person
    try:
        new = service.rerun(get_graph(), task, initiator(), secrets, send=_send)
    except TaskRequestError as exc:
        raise _error(exc) from None
    _audit_values(task["template_ref"], new.get("values"), secrets, dry_run=False, action="scaffolder.task.rerun",
                  task=new["id"])
    link = url_for("api.get_task", task_id=new["id"])
    return jsonify({"id": new["id"], "status": new["status"], "url": link, "rerunOf": task_id}), 201, \
        {"Location": link}
