"""Software Templates pages: Create (templates, the form, review, run), Tasks (list, one task's live log,
cancel, re-run) and Dry run (a registered or pasted template against a scratch workspace).

Thin views over scaffolder.service; the form comes from app.web.scaffolder_form. Live parts are
app/static/js/create.js (dependent fields) and task.js (polls /api/v1/tasks/<id>/events): no inline script.
"""
from __future__ import annotations

import io
import json
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from flask import abort, make_response, redirect, render_template, request, url_for

from app import settings
from app.api.scaffolder_routes import _audit_values, _send, initiator
from app.auth.audit import audit
from app.auth import access
from app.graph_access import get_graph
from app.web import bp
from app.web.scaffolder_form import build_steps, values_from_form
from graph import scaffolder as store
from graph.model import RefError, parse_ref
from ingest.descriptors.limits import Limits
from ingest.descriptors.yaml_loader import YamlProblem, load_single
from scaffolder import service
from scaffolder.integrations import REPOSITORY_HOSTS, IntegrationError, adapt
from scaffolder.workspace import WorkspaceError, safe_child
from scaffolder.service import TaskRequestError
from scaffolder.template import MASK, Template, TemplateError

MAX_UPLOAD = 25 * 1024 * 1024
MAX_UPLOAD_FILES = 2000
LIVE = ("open", "processing")


def _template_or_404(namespace: str, name: str) -> Template:
    try:
        ref = str(parse_ref(f"template:{namespace}/{name}"))
    except RefError:
        abort(404)
    try:
        template = service.get_template(get_graph(), ref, access.visibility())
    except TaskRequestError as exc:
        abort(422, description=exc.message)
    if template is None:
        abort(404, description=f"{ref} is not a template you can see.")
    return template


def _hosts() -> list[str]:
    """The repository hosts of the portal's integrations (TRELLIS_CONFIG, read at start: app.settings)."""
    try:
        return adapt(settings.current().integrations).hosts(REPOSITORY_HOSTS)
    except IntegrationError:
        return ["github.com", "gitlab.com"]


def _claims() -> frozenset[str]:
    subject = access.subject()
    return subject.claims if subject is not None else frozenset()


# ------------------------------------------------------------------------------------------ Create

@bp.get("/create")
def create_page():
    access.require("read")
    chosen = {k: (request.args.get(k) or "").strip() or None for k in ("type", "tag", "owner", "q")}
    everything = service.list_templates(get_graph(), access.visibility(), text=chosen["q"])
    items = [t for t in everything
             if (not chosen["type"] or t["type"] == chosen["type"])
             and (not chosen["tag"] or chosen["tag"] in t["tags"])
             and (not chosen["owner"] or t["owner"] == chosen["owner"])]
    facets = {"type": sorted({t["type"] for t in everything if t["type"]}),
              "tag": sorted({tag for t in everything for tag in t["tags"]}),
              "owner": sorted({t["owner"] for t in everything if t["owner"]})}
    return render_template("scaffolder/create.html", templates=items, facets=facets, chosen=chosen,
                           can_run=access.can("run", kind="Template"), total=len(everything))


def _form_page(template: Template, values: dict, errors: dict[str, str], status: int = 200, notice: str | None = None):
    steps = build_steps(template, values, errors, graph=get_graph(), visibility=access.visibility(), claims=_claims(),
                        hosts=_hosts())
    namespace, name = template.ref.split(":", 1)[1].split("/", 1)
    return render_template("scaffolder/form.html", template=template, steps=steps, errors=errors, notice=notice,
                           namespace=namespace, name=name, can_run=access.can("run", kind="Template")), status


@bp.get("/create/templates/<namespace>/<name>")
def template_form(namespace: str, name: str):
    access.require("read")
    return _form_page(_template_or_404(namespace, name), {}, {})


@bp.post("/create/templates/<namespace>/<name>")
def template_submit(namespace: str, name: str):
    access.require("read")
    template = _template_or_404(namespace, name)
    intent = request.form.get("intent", "review")
    if intent in ("run", "dry-run", "edit") and request.form.get("values_json") is not None:
        try:
            values = json.loads(request.form.get("values_json") or "{}")
        except ValueError:
            values = {}
        values = values if isinstance(values, dict) else {}
        secrets = {k[len("secret:"):]: v for k, v in request.form.items() if k.startswith("secret:")}
    else:
        values = values_from_form(template, request.form)
        secrets = {}
    if intent == "edit":
        return _form_page(template, values, {})
    try:
        prepared, task_secrets, problems = template.prepare(values, secrets)
    except TemplateError as exc:
        abort(422, description=f"{template.ref}: {exc}")
    if problems:
        errors = {}
        for p in problems:
            errors.setdefault(p.field.split("[")[0] or "", p.message)
        return _form_page(template, values, errors, 400, notice="Some values are missing or invalid.")
    if intent == "review":
        access.require("run", kind="Template")
        rows = _review_rows(template, prepared, task_secrets)
        response = make_response(render_template(
            "scaffolder/review.html", template=template, rows=rows, namespace=namespace, name=name,
            values_json=json.dumps(prepared), secrets=task_secrets))
        response.headers["Cache-Control"] = "no-store"   # the page carries the secrets to the next step
        return response
    access.require("run", kind="Template")
    who = initiator()
    try:
        if intent == "dry-run":
            result = service.dry_run(get_graph(), template, prepared, who)
            _audit_values(template.ref, result.get("values"), task_secrets, dry_run=True, action="scaffolder.dry_run")
            return render_template("scaffolder/dry_run_result.html", result=result, template=template)
        task = service.create_task(get_graph(), template, prepared, task_secrets, who, send=_send)
    except TaskRequestError as exc:
        return _form_page(template, values, {}, exc.status, notice=exc.message)
    _audit_values(template.ref, task.get("values"), task_secrets, dry_run=False, task=task["id"])
    return redirect(url_for("web.task_page", task_id=task["id"]), code=303)


def _review_rows(template: Template, values: dict, secrets: dict) -> list[dict]:
    titles = {name: (prop.get("title") or name) for _, name, prop in template.fields()}
    rows = [{"title": titles.get(k, k), "name": k, "value": v} for k, v in values.items()]
    rows += [{"title": titles.get(k, k), "name": k, "value": MASK, "secret": True} for k in secrets]
    return rows


# ------------------------------------------------------------------------------------------ tasks

def _task_or_404(task_id: str) -> dict:
    task = store.get_task(get_graph(), task_id)
    if task is None or (task.get("created_by") != initiator().id and not access.can("admin")):
        abort(404, description=f"No task {task_id} that you can see.")
    return task


@bp.get("/create/tasks")
def tasks_page():
    access.require("read")
    is_admin = access.can("admin")
    scope = request.args.get("scope") or ("all" if is_admin else "mine")
    created_by = None if (is_admin and scope == "all") else initiator().id
    status = request.args.get("status") or None
    if status is not None and status not in store.STATUSES:
        abort(400, description=f"status must be one of {', '.join(store.STATUSES)}")
    tasks = store.list_tasks(get_graph(), created_by=created_by, status=status, limit=100)
    return render_template("scaffolder/tasks.html", tasks=tasks, scope=scope, is_admin=is_admin, status=status,
                           statuses=store.STATUSES, live=LIVE)


@bp.get("/create/tasks/<task_id>")
def task_page(task_id: str):
    access.require("read")
    task = _task_or_404(task_id)
    events = store.events(get_graph(), task_id)
    return render_template("scaffolder/task.html", task=task, events=events, live=LIVE,
                           last_seq=events[-1]["seq"] if events else 0, can_run=access.can("run", kind="Template"))


@bp.post("/create/tasks/<task_id>/cancel")
def task_cancel(task_id: str):
    access.require("read")
    task = _task_or_404(task_id)
    status = store.request_cancel(get_graph(), task_id)
    audit("scaffolder.task.cancel", "ok", target=task.get("template_ref"), details={"task": task_id, "status": status})
    return redirect(url_for("web.task_page", task_id=task_id), code=303)


@bp.post("/create/tasks/<task_id>/rerun")
def task_rerun(task_id: str):
    access.require("read")
    access.require("run", kind="Template")
    task = _task_or_404(task_id)
    secrets = {k[len("secret:"):]: v for k, v in request.form.items() if k.startswith("secret:")}
    ref = task["template_ref"]
    if service.get_template(get_graph(), ref, access.visibility()) is None:
        abort(404, description=f"{ref} is no longer a template you can see.")
    try:
        new = service.rerun(get_graph(), task, initiator(), secrets, send=_send)
    except TaskRequestError as exc:
        if exc.code == "secrets_required":
            return render_template("scaffolder/rerun_secrets.html", task=task, names=exc.details["secrets"]), 400
        abort(exc.status, description=exc.message)
    _audit_values(ref, new.get("values"), secrets, dry_run=False, action="scaffolder.task.rerun", task=new["id"])
    return redirect(url_for("web.task_page", task_id=new["id"]), code=303)


# ------------------------------------------------------------------------------------------ dry run (editor)

@bp.get("/create/dry-run")
def dry_run_page():
    access.require("read")
    templates = service.list_templates(get_graph(), access.visibility())
    return render_template("scaffolder/dry_run.html", templates=templates, chosen=request.args.get("template"),
                           yaml_text="", values_text="", error=None, can_run=access.can("run", kind="Template"))


@bp.post("/create/dry-run")
def dry_run_submit():
    access.require("read")
    access.require("run", kind="Template")
    if (request.content_length or 0) > MAX_UPLOAD:
        abort(413, description=f"uploads are limited to {MAX_UPLOAD // (1024 * 1024)} MiB")
    templates = service.list_templates(get_graph(), access.visibility())
    chosen = (request.form.get("template") or "").strip()
    yaml_text = request.form.get("template_yaml") or ""
    values_text = request.form.get("values") or ""

    def again(message: str, status: int = 400):
        return render_template("scaffolder/dry_run.html", templates=templates, chosen=chosen, yaml_text=yaml_text,
                               values_text=values_text, error=message, can_run=True), status

    try:
        values = _parse_values(values_text)
    except ValueError as exc:
        return again(str(exc))
    scratch = Path(tempfile.mkdtemp(prefix="trellis-dry-run-"))
    try:
        base = None
        if yaml_text.strip():
            try:
                template = Template.from_entity(service.parse_template_yaml(yaml_text))
            except (TaskRequestError, TemplateError) as exc:
                return again(getattr(exc, "message", None) or str(exc))
            try:
                _save_upload(scratch)
            except ValueError as exc:
                return again(str(exc))
            base = service.TemplateBase(dir=scratch, root=scratch)
        elif chosen:
            try:
                ref = str(parse_ref(chosen, default_kind="template"))
            except RefError as exc:
                return again(str(exc))
            template = service.get_template(get_graph(), ref, access.visibility())
            if template is None:
                return again(f"{ref} is not a template you can see", 404)
        else:
            return again("choose a registered template or paste one")
        try:
            result = service.dry_run(get_graph(), template, values, initiator(), base=base)
        except TaskRequestError as exc:
            detail = "; ".join(f"{f['field']}: {f['message']}" for f in (exc.details or {}).get("fields", []))
            return again(f"{exc.message}{': ' + detail if detail else ''}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _audit_values(template.ref, result.get("values"), None, dry_run=True, action="scaffolder.dry_run")
    return render_template("scaffolder/dry_run_result.html", result=result, template=template)


def _parse_values(text: str) -> dict:
    if not text.strip():
        return {}
    try:
        data = load_single(text, Limits())
    except YamlProblem as exc:
        raise ValueError(f"values: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("values must be a YAML or JSON mapping")
    return data


def _save_upload(root: Path) -> None:
    """The skeleton: files of a chosen folder (their relative names) and/or a .zip, safely."""
    files = [f for f in request.files.getlist("files") if f and f.filename]
    archives = [f for f in request.files.getlist("archive") if f and f.filename]
    entries: list[tuple[str, bytes]] = []
    names = [f.filename.replace("\\", "/") for f in files]
    top = {n.split("/", 1)[0] for n in names if "/" in n}
    strip = len(top) == 1 and all("/" in n for n in names)   # a chosen folder: drop its own name
    for storage, name in zip(files, names):
        entries.append((name.split("/", 1)[1] if strip else name, storage.read(MAX_UPLOAD + 1)))
    for archive in archives:
        entries.extend(_unzip(archive.read(MAX_UPLOAD + 1)))
    if len(entries) > MAX_UPLOAD_FILES:
        raise ValueError(f"at most {MAX_UPLOAD_FILES} files")
    total = 0
    for name, data in entries:
        total += len(data)
        if total > MAX_UPLOAD:
            raise ValueError(f"the skeleton is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
        if ".git" in name.split("/"):
            raise ValueError(f"{name}: skeletons may not carry git metadata")
        try:
            target = safe_child(root, name, what="file name")
        except WorkspaceError as exc:
            raise ValueError(str(exc)) from None
        if target == root:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _unzip(blob: bytes) -> list[tuple[str, bytes]]:
    """A zip's regular files; links, absolute or climbing names and zip bombs are refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise ValueError("the archive is not a zip file") from None
    out: list[tuple[str, bytes]] = []
    total = 0
    infos = archive.infolist()
    if len(infos) > MAX_UPLOAD_FILES:
        raise ValueError(f"the archive holds more than {MAX_UPLOAD_FILES} entries")
    for info in infos:
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ValueError(f"{info.filename}: the archive contains a symbolic link")
        if info.is_dir():
            continue
        total += info.file_size
        if total > MAX_UPLOAD:
            raise ValueError("the archive unpacks to more than the upload limit")
        with archive.open(info) as fh:
            data = fh.read(info.file_size + 1)
        if len(data) > info.file_size:
            raise ValueError(f"{info.filename}: the archive lies about its sizes")
        out.append((info.filename, data))
    return out
