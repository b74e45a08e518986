"""A Trellis plugin showing every extension point of the plugin API (plugins.api), around one idea: a service
inventory file (JSON or YAML) `{"services": [{"name": "billing", "owner": "payments", "type": "service",
"lifecycle": "production", "description": "..."}]}`.

- provider `example-inventory`: the file's services become Component entities;
- after-ingest hook: remembers the runs this process recorded (shown by the page below);
- webhook `POST /api/v1/webhooks/example-inventory` (needs an API token with "ingest"): `{"source": NAME}`
  re-ingests that inventory source now;
- entity tab "Inventory" and an overview card on the components an inventory file declared;
- page `/plugins/example-inventory-runs`: the inventory runs seen since the portal started;
- scaffolder action `example:hello`: writes a greeting into the task's workspace.

Source configuration:

    sources:
      - name: inventory
        provider: example-inventory
        schedule: 600
        options: {path: ./inventory.yaml}

Options: `path` (relative to the sources file) and `delay` (seconds to pause per service, to watch the live
progress of a run in the portal).
"""
from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import yaml

from plugins.api import (ActionContext, AfterIngest, EntityPage, EntityTab, OverviewCard, Page, PageRequest,
                         PluginRegistry, Predicate, Provider, SyncContext, TemplateAction, Webhook,
                         WebhookError, WebhookRequest, escape)

TRELLIS_API_VERSION = "1.0"   # the plugin API this plugin was built for (plugins.api.API_VERSION)

PROVIDER = "example-inventory"
INVENTORY_ANNOTATION = "example.com/inventory-file"   # which inventory file declared the component


def to_entity(service: dict, inventory: str = "") -> dict:
    """Transform (pure): one inventory record -> a Backstage Component descriptor."""
    metadata = {"name": service.get("name"), "tags": ["inventory"]}
    if service.get("description"):
        metadata["description"] = service["description"]
    if inventory:
        metadata["annotations"] = {INVENTORY_ANNOTATION: inventory}
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": metadata,
        "spec": {"type": service.get("type", "service"), "lifecycle": service.get("lifecycle", "production"),
                 "owner": service.get("owner")},
    }


class InventoryProvider(Provider):
    name = PROVIDER

    def sync(self, ctx: SyncContext):
        # get
        path = Path(ctx.options["path"])
        if not path.is_absolute() and ctx.base_dir:
            path = Path(ctx.base_dir) / path
        services = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("services") or []
        delay = float(ctx.options.get("delay", 0))
        entities = []
        for done, service in enumerate(services, 1):
            # transform
            entities.append((f"inventory:{path.name}#{service.get('name')}", to_entity(service, path.name)))
            ctx.progress("fetching", done, len(services))
            if delay:
                time.sleep(delay)
        # load + cleanup: validated, compared, written and removed by Trellis, recorded as this run
        return ctx.ingest(entities, target=f"inventory:{path}")


# ------------------------------------------------------------------ after-ingest hook + page

RECENT_RUNS: deque[dict] = deque(maxlen=20)   # this process only: a page to show the hook at work


def remember_run(event: AfterIngest) -> None:
    result = event.result
    RECENT_RUNS.appendleft({"source": result.source, "run": result.run, "added": result.added,
                            "updated": result.updated, "removed": result.removed})


def runs_page(request: PageRequest) -> str:
    if not RECENT_RUNS:
        return "<p>No ingest run was recorded by this process yet.</p>"
    rows = "".join(f"<tr><td>{escape(r['source'])}</td><td><code>{escape(r['run'])}</code></td>"
                   f"<td>{r['added']}</td><td>{r['updated']}</td><td>{r['removed']}</td></tr>" for r in RECENT_RUNS)
    return ("<table class=\"table\"><thead><tr><th>Source</th><th>Run</th><th>Added</th><th>Updated</th>"
            f"<th>Removed</th></tr></thead><tbody>{rows}</tbody></table>")


# ------------------------------------------------------------------ entity tab + overview card

FROM_INVENTORY = Predicate(kinds=("component",), annotation=INVENTORY_ANNOTATION)


def inventory_tab(page: EntityPage) -> str:
    metadata = page.entity.get("metadata") or {}
    spec = page.entity.get("spec") or {}
    return (f"<p>Declared in the inventory file <code>{escape(metadata['annotations'][INVENTORY_ANNOTATION])}"
            f"</code>, owned by <code>{escape(spec.get('owner') or '?')}</code>.</p>")


def inventory_card(page: EntityPage) -> str:
    file = (page.entity.get("metadata") or {})["annotations"][INVENTORY_ANNOTATION]
    return f"<p class=\"small\">From the service inventory <code>{escape(file)}</code>.</p>"


# ------------------------------------------------------------------ webhook

def refresh_webhook(request: WebhookRequest) -> tuple[dict, int]:
    payload = request.json()
    name = payload.get("source") if isinstance(payload, dict) else None
    if not isinstance(name, str):
        raise WebhookError(400, "invalid_payload", 'send {"source": "<an example-inventory source>"}')
    source = next((s for s in request.sources(PROVIDER) if s.name == name), None)
    if source is None:
        raise WebhookError(404, "unknown_source", f"no {PROVIDER} source is named {name!r}")
    return {"status": "accepted", "run": request.reingest(source)}, 202


# ------------------------------------------------------------------ scaffolder action

def hello(ctx: ActionContext) -> None:
    who = str(ctx.input.get("name") or "world")
    target = ctx.resolve(str(ctx.input.get("path") or "hello.txt"))
    if not ctx.is_dry_run:
        target.write_text(f"Hello, {who}!\n", encoding="utf-8")
    ctx.logger.info(f"greeted {who}")
    ctx.output("path", str(target.relative_to(ctx.workspace_path)))


def register(registry: PluginRegistry) -> None:
    registry.add_provider(InventoryProvider())
    registry.add_after_ingest(remember_run)
    registry.add_webhook(Webhook(id="example-inventory", handle=refresh_webhook, permission="ingest"))
    registry.add_tab(EntityTab(id="inventory", title="Inventory", render=inventory_tab, permission="read",
                               when=FROM_INVENTORY))
    registry.add_card(OverviewCard(id="inventory", title="Inventory", render=inventory_card, permission="read",
                                   when=FROM_INVENTORY))
    registry.add_page(Page(id="example-inventory-runs", title="Inventory runs", render=runs_page,
                           permission="read"))
    registry.add_action(TemplateAction(
        id="example:hello", handler=hello, description="Write a greeting into the workspace",
        input_schema={"type": "object", "properties": {"name": {"type": "string"}, "path": {"type": "string"}}},
        output_schema={"type": "object", "properties": {"path": {"type": "string"}}},
        supports_dry_run=True))
