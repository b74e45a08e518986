"""The plugin registry: what the installed plugins (entry points in `trellis.plugins`) registered.

Built-in plugins are entry points of Trellis' own distribution, so they load through exactly this path. A
plugin that fails to import or to register is reported (name and reason) and skipped: one broken package
must not take the portal or the workers down.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Callable, Iterable

import re

from plugins.api import ENTRY_POINT_GROUP, PluginError, Provider, TemplateAction

log = logging.getLogger(__name__)

_ACTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, and why (shown by `trellis plugins`-like views and logged)."""

    plugin: str
    reason: str


@dataclass
class Registry:
    """Providers by name, plus the plugins that failed to load."""

    _providers: dict[str, Provider] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)   # entry point names that registered successfully

    def add_provider(self, provider: Provider) -> None:
        """Register a provider instance under its `name`; a second provider with the same name is refused."""
        if not isinstance(provider, Provider):
            raise PluginError(f"{provider!r} is not a plugins.api.Provider instance")
        name = getattr(provider, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{type(provider).__name__} has no provider name (set the class attribute `name`)")
        if name in self._providers and self._providers[name] is not provider:
            raise PluginError(f"a provider named {name!r} is already registered "
                              f"({type(self._providers[name]).__module__})")
        self._providers[name] = provider

    def provider(self, name: str) -> Provider:
        """The provider registered as `name`, or a PluginError listing the known ones."""
        try:
            return self._providers[name]
        except KeyError:
            known = ", ".join(sorted(self._providers)) or "none"
            raise PluginError(f"unknown provider {name!r} (registered providers: {known})") from None

    def providers(self) -> list[Provider]:
        return [self._providers[n] for n in sorted(self._providers)]

    # Search engines (plugins.search) and ingest hooks, added for issue 6 (search).
    _search_engines: dict[str, Callable[..., Any]] = field(default_factory=dict)
    _after_ingest: list[Callable[..., None]] = field(default_factory=list)

    def add_search_engine(self, name: str, factory: Callable[..., Any]) -> None:
        """Register `factory(graph) -> plugins.search.SearchEngine` under `name` (TRELLIS_SEARCH_ENGINE)."""
        if not name or name == "neo4j":
            raise PluginError(f"invalid search engine name {name!r} (neo4j is built in)")
        if name in self._search_engines and self._search_engines[name] is not factory:
            raise PluginError(f"a search engine named {name!r} is already registered")
        self._search_engines[name] = factory

    def search_engine(self, name: str) -> Callable[..., Any]:
        try:
            return self._search_engines[name]
        except KeyError:
            known = ", ".join(["neo4j", *sorted(self._search_engines)])
            raise PluginError(f"unknown search engine {name!r} (available: {known})") from None

    def search_engines(self) -> list[str]:
        return sorted(self._search_engines)

    def add_after_ingest(self, hook: Callable[..., None]) -> None:
        """`hook(graph, result)` runs after every recorded ingest run (ingest.sync), e.g. to update a search
        index; a failing hook is logged and never fails the run."""
        self._after_ingest.append(hook)

    def after_ingest_hooks(self) -> list[Callable[..., None]]:
        return list(self._after_ingest)

    # Scaffolder actions (Software Templates, issue 12).
    _actions: dict[str, TemplateAction] = field(default_factory=dict)

    def add_action(self, action: TemplateAction) -> None:
        """Register a scaffolder action under its id; a second action with the same id is refused."""
        if not isinstance(action, TemplateAction):
            raise PluginError(f"{action!r} is not a plugins.api.TemplateAction")
        if not isinstance(action.id, str) or not _ACTION_ID.match(action.id):
            raise PluginError(f"invalid action id {action.id!r} (letters, digits, '-', '_', ':' and '.')")
        if not callable(action.handler):
            raise PluginError(f"action {action.id} has no callable handler")
        if action.id in self._actions and self._actions[action.id] is not action:
            raise PluginError(f"an action with id {action.id!r} is already registered")
        self._actions[action.id] = action

    def action(self, action_id: str) -> TemplateAction:
        """The action registered as `action_id`, or a PluginError naming the known ones."""
        try:
            return self._actions[action_id]
        except KeyError:
            raise PluginError(f"unknown action {action_id!r}; installed actions: "
                              f"{', '.join(sorted(self._actions)) or 'none'}") from None

    def actions(self) -> list[TemplateAction]:
        return [self._actions[a] for a in sorted(self._actions)]


def load_registry(entries: Iterable[EntryPoint] | None = None) -> Registry:
    """Call every `trellis.plugins` entry point's `register(registry)`; failures are recorded, not raised."""
    registry = Registry()
    eps = list(entries) if entries is not None else list(entry_points(group=ENTRY_POINT_GROUP))
    for ep in sorted(eps, key=lambda e: e.name):
        try:
            register = ep.load()
            staged = Registry()           # all or nothing: a plugin failing halfway registers none of it
            register(staged)
            for provider in staged.providers():
                registry.add_provider(provider)
            for engine_name in staged.search_engines():
                registry.add_search_engine(engine_name, staged.search_engine(engine_name))
            for hook in staged.after_ingest_hooks():
                registry.add_after_ingest(hook)
            for action in staged.actions():
                registry.add_action(action)
        except Exception as exc:   # any plugin bug: report and go on with the others
            reason = f"{type(exc).__name__}: {exc}"
            registry.failures.append(PluginFailure(ep.name, reason))
            log.error("plugin %s failed to load and was skipped: %s", ep.name, reason)
            continue
        registry.plugins.append(ep.name)
    return registry


_cached: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loaded once (entry points do not change while a process runs)."""
    global _cached
    if _cached is None:
        _cached = load_registry()
    return _cached


def run_after_ingest(graph: Any, result: Any) -> None:
    """Call every registered after-ingest hook (ingest.sync calls this once a run is recorded). Hooks are
    best effort: a failure is logged with the plugin's reason and the run stays as it was recorded."""
    for hook in registry().after_ingest_hooks():
        try:
            hook(graph, result)
        except Exception:   # a search index being down must not fail an ingest
            log.exception("after-ingest hook %s failed", getattr(hook, "__qualname__", hook))
