"""`trellis create TEMPLATE_REF --values values.yaml [--dry-run] [--json]`: run a Software Template.

Locally (no TRELLIS_URL) the CLI is an operator: it reads the template from the graph, validates the values,
and either dry-runs it in this process or queues it for the worker and follows it (step states and log
lines as they come). With TRELLIS_URL and a token it asks the portal instead (`POST /api/v1/tasks`), as the
token's owner. Exit codes: 0 completed, 1 failed or cancelled (or a fatal error), 2 invalid values.
"""
from __future__ import annotations

import getpass
import sys
import time
from pathlib import Path

import click

from app.cli.catalog_cmd import emit_json, fail, open_graph
from ingest.descriptors.limits import Limits
from ingest.descriptors.yaml_loader import YamlProblem, load_single
from app.cli.remote import remote
from graph.model import RefError, parse_ref
from graph.visibility import EVERYTHING
from scaffolder import service
from scaffolder.service import Initiator, TaskRequestError
from graph.driver import Settings, connect
from graph import scaffolder as store
import requests
from scaffolder.service import public_task

EXIT_INVALID = 2
POLL = 0.5


def _read_values(path: str | None) -> dict:
    if not path:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8") if path != "-" else sys.stdin.read()
        data = load_single(text, Limits())
    except OSError as exc:
        fail(f"{path}: {exc.strerror}")
    except YamlProblem as exc:
        fail(f"{path}: {exc}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        fail(f"{path}: the values must be a mapping")
    return data


def _secrets(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--secret {pair!r}: write NAME=VALUE (or NAME=@file)")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                fail(f"--secret {key}: {exc.strerror}")
        out[key] = value
    return out


def _invalid(details: object, as_json: bool) -> None:
    fields = (details or {}).get("fields", []) if isinstance(details, dict) else []
    if as_json:
        emit_json({"status": "invalid", "fields": fields})
    else:
        click.echo("The values are not valid:", err=True)
        for f in fields:
            click.echo(f"  {f.get('field') or '(form)'}: {f.get('message')}", err=True)
    sys.exit(EXIT_INVALID)


@click.command()
@click.argument("template_ref")
@click.option("--values", "values_path", help="A YAML or JSON file of values (`-` reads stdin).")
@click.option("--secret", "secret_pairs", multiple=True, metavar="NAME=VALUE",
              help="A secret (`${{ secrets.NAME }}`); NAME=@file reads it from a file. Never stored.")
@click.option("--dry-run", is_flag=True, help="Run with no side effects and print the result.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--user", "user_ref", help="Run as this catalog User (for templates that use user.entity).")
def create(template_ref: str, values_path: str | None, secret_pairs: tuple[str, ...], dry_run: bool, as_json: bool,
           user_ref: str | None) -> None:
    """Run the Software Template TEMPLATE_REF (e.g. template:default/flask-service) with --values."""
    values = _read_values(values_path)
    secrets = _secrets(secret_pairs)
    where = remote()
    if where is not None:
        _remote(where, template_ref, values, secrets, dry_run, as_json)
        return
    try:
        ref = str(parse_ref(template_ref, default_kind="template"))
        user = str(parse_ref(user_ref, default_kind="user")) if user_ref else None
    except RefError as exc:
        fail(f"{exc}; write refs as template:namespace/name")
    who = Initiator(id=f"cli:{getpass.getuser()}", label=f"{getpass.getuser()} (CLI)", user_ref=user)
    with open_graph() as graph:
        try:
            template = service.get_template(graph, ref, EVERYTHING)
        except TaskRequestError as exc:
            fail(exc.message)
        if template is None:
            fail(f"{ref} is not a template in the catalog")
        try:
            if dry_run:
                result = service.dry_run(graph, template, values, who)
                _print_dry_run(result, as_json)
                sys.exit(0 if result["status"] == "completed" else 1)
            task = service.create_task(graph, template, values, secrets, who, send=_send)
        except TaskRequestError as exc:
            if exc.code == "invalid_values":
                _invalid(exc.details, as_json)
            fail(exc.message)
        status = _follow_local(graph, task["id"], as_json)
    sys.exit(0 if status == "completed" else 1)


def _send(task_id: str, task_secrets: dict) -> None:
    try:
        service.enqueue(task_id, task_secrets)
    except Exception as exc:   # the broker is down: say so, and record why the task never ran
        with connect(Settings.from_env()) as graph:
            store.update_task(graph, task_id, status="failed", finished_at=store.now_ms(),
                              error="the job queue (Redis) is not reachable; nothing ran")
        fail(f"the job queue is not reachable ({type(exc).__name__}); start it with `trellis up` or set "
             f"TRELLIS_REDIS_URL, and run `trellis worker`")


def _follow_local(graph, task_id: str, as_json: bool) -> str:
    after = 0
    shown: dict[str, str] = {}
    if not as_json:
        click.echo(f"Task {task_id} queued; waiting for a worker (Ctrl-C stops following, not the task)", err=True)
    while True:
        task = store.get_task(graph, task_id) or {}
        events = store.events(graph, task_id, after=after)
        for event in events:
            after = event["seq"]
            if not as_json:
                _print_event(event)
        for step in task.get("steps") or []:
            if not as_json and shown.get(step["id"]) != step["status"] and step["status"] != "open":
                shown[step["id"]] = step["status"]
        if task.get("status") in ("completed", "failed", "cancelled"):
            if as_json:
                emit_json({**public_task(task), "events": store.events(graph, task_id)})
            else:
                _print_outcome(task)
            return task["status"]
        time.sleep(POLL)


def _print_event(event: dict) -> None:
    mark = {"completed": "✓", "failed": "✗", "skipped": "–", "processing": "›", "cancelled": "■"}.get(
        event.get("status") or "", " ")
    step = f"[{event['step']}] " if event.get("step") else ""
    click.echo(f"{mark} {step}{event['message']}", err=event.get("level") == "error")


def _print_outcome(task: dict) -> None:
    click.echo(f"\n{task['status']}: {task.get('template_ref')} in {task.get('seconds') or 0:.1f} s")
    if task.get("error"):
        click.echo(f"error: {task['error']}", err=True)
    output = task.get("output") or {}
    for link in output.get("links") or []:
        click.echo(f"  {link.get('title') or ''}: {link.get('url') or link.get('entityRef') or ''}")
    for text in output.get("text") or []:
        click.echo(f"\n{text.get('title') or ''}\n{text.get('content') or ''}")


def _print_dry_run(result: dict, as_json: bool) -> None:
    if as_json:
        emit_json({"status": result["status"], "error": result["error"], "steps": result["steps"],
                   "log": result["log"], "files": [{"path": f["path"], "size": f["size"], "content": f["text"]}
                                                   for f in result["files"]],
                   "output": result["output"], "catalog": result["catalog"], "seconds": result["seconds"]})
        return
    for event in result["log"]:
        _print_event(event)
    click.echo(f"\nFiles ({len(result['files'])}):")
    for f in result["files"]:
        click.echo(f"  {f['path']}  ({f['size']} bytes)")
    for entity in result["catalog"]["entities"]:
        click.echo(f"\nWould register {entity['ref']}{' (exists already)' if entity['exists'] else ''}")
        for rel in entity["relations"]:
            click.echo(f"  {rel['type']} {rel['target']}: {rel['state']}")
    click.echo(f"\ndry run {result['status']} in {result['seconds']} s; nothing was published or registered")


def _remote(where: tuple[str, str], template_ref: str, values: dict, secrets: dict, dry_run: bool,
            as_json: bool) -> None:
    base, token = where
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    body = {"templateRef": template_ref, "values": values, "dryRun": dry_run}
    if secrets:
        body["secrets"] = secrets
    try:
        response = requests.post(f"{base}/api/v1/tasks", json=body, headers=headers, timeout=120)
    except requests.RequestException as exc:
        fail(f"cannot reach the portal at {base}: {exc.__class__.__name__}")
    payload = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code == 400 and payload.get("error", {}).get("code") == "invalid_values":
        _invalid(payload["error"].get("details"), as_json)
    if response.status_code >= 400:
        fail(f"{response.status_code} from the portal: {payload.get('error', {}).get('message') or response.reason}")
    if dry_run:
        _print_dry_run(payload, as_json)
        sys.exit(0 if payload.get("status") == "completed" else 1)
    task_id, after = payload["id"], 0
    while True:
        events = requests.get(f"{base}/api/v1/tasks/{task_id}/events", params={"after": after}, headers=headers,
                              timeout=30).json()
        for event in events.get("items", []):
            after = event["seq"]
            if not as_json:
                _print_event(event)
        if events.get("status") in ("completed", "failed", "cancelled"):
            task = requests.get(f"{base}/api/v1/tasks/{task_id}", headers=headers, timeout=30).json()
            if as_json:
                emit_json(task)
            else:
                _print_outcome(task)
            sys.exit(0 if task["status"] == "completed" else 1)
        time.sleep(POLL)
