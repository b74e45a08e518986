"""A minimal Trellis plugin: a provider turning a service inventory file into Component entities.

The inventory (JSON or YAML) looks like `{"services": [{"name": "billing", "owner": "payments",
"type": "service", "lifecycle": "production", "description": "..."}]}`. Source configuration:

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
from pathlib import Path

import yaml

from plugins.api import Provider, SyncContext


def to_entity(service: dict) -> dict:
    """Transform (pure): one inventory record -> a Backstage Component descriptor."""
    metadata = {"name": service.get("name"), "tags": ["inventory"]}
    if service.get("description"):
        metadata["description"] = service["description"]
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": metadata,
        "spec": {"type": service.get("type", "service"), "lifecycle": service.get("lifecycle", "production"),
                 "owner": service.get("owner")},
    }


class InventoryProvider(Provider):
    name = "example-inventory"

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
            entities.append((f"inventory:{path.name}#{service.get('name')}", to_entity(service)))
            ctx.progress("fetching", done, len(services))
            if delay:
                time.sleep(delay)
        # load + cleanup: validated, compared, written and removed by Trellis, recorded as this run
        return ctx.ingest(entities, target=f"inventory:{path}")


def register(registry) -> None:
    registry.add_provider(InventoryProvider())
