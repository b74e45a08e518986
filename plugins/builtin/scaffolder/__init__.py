"""Built-in scaffolder actions, registered through the plugin API exactly like a third-party plugin's.

Each module holds one family (fetch, debug, fs, catalog, publish) and imports only `plugins.api` (and the
standard library); everything that touches files, the network or the catalog goes through the action context.
"""
from __future__ import annotations

from plugins.api import API_VERSION, PluginRegistry
from plugins.builtin.scaffolder import catalog, debug, fetch, fs, publish

TRELLIS_API_VERSION = API_VERSION


def register(registry: PluginRegistry) -> None:
    for module in (fetch, debug, fs, catalog, publish):
        for action in module.ACTIONS:
            registry.add_action(action)
