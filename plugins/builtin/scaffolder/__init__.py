"""Built-in scaffolder actions, registered through the plugin API exactly like a third-party plugin's.

Each module holds one family (fetch, debug, fs, catalog, publish) and imports only `plugins.api` (and the
standard library); everything that touches files, the network or the catalog goes through the action context.
"""
from __future__ import annotations

from plugins.builtin.scaffolder import catalog, debug, fetch, fs, publish


def register(registry) -> None:
    for module in (fetch, debug, fs, catalog, publish):
        for action in module.ACTIONS:
            registry.add_action(action)
