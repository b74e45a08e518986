"""The plugin registry: what the installed plugins (entry points in `trellis.plugins`) registered.

Built-in plugins are entry points of Trellis' own distribution, so they load through exactly this path. A
plugin that fails to import or to register, or that was built for an incompatible plugin API version, is
reported (name and reason) and skipped: one broken package must not take the portal or the workers down.
Everything is checked when it is registered (ids, callables, declared permissions), so a mistake is a load
failure naming the plugin, never a surprise on a page.
"""
from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Callable, Iterable

from plugins.api import (ENTRY_POINT_GROUP, PERMISSIONS, PUBLIC, AfterIngest, EntityTab, OverviewCard, Page,
                         PluginError, Provider, TemplateAction, Webhook, api_incompatibility)

log = logging.getLogger(__name__)

_ACTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")   # tabs, cards, pages, webhooks: they appear in URLs

# The entity page's own tabs (app.web.helpers.TAB_TITLES): a plugin tab may follow one, never replace one.
PORTAL_TABS = ("overview", "apis", "definition", "dependencies", "dependents", "impact", "members", "ownership",
               "relations", "graph")


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, and why (shown by `trellis plugins`-like views and logged)."""

    plugin: str
    reason: str


def _check_id(what: str, value: Any) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise PluginError(f"invalid {what} id {value!r} (lower-case letters, digits and '-', at most 63)")
    return value


def _check_permission(what: str, permission: Any, *, public: bool = False) -> None:
    allowed = (*PERMISSIONS, PUBLIC) if public else PERMISSIONS
    if permission not in allowed:
        raise PluginError(f"{what} declares the permission {permission!r}; declare one of "
                          f"{', '.join(allowed)}")


@dataclass
class Registry:
    """What the plugins registered, by kind, plus the plugins that failed to load."""

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
    _after_ingest: list[Callable[[AfterIngest], None]] = field(default_factory=list)

    def add_search_engine(self, name: str, factory: Callable[..., Any]) -> None:
        """Register `factory(graph) -> plugins.api.SearchEngine` under `name` (TRELLIS_SEARCH_ENGINE)."""
        if not name or name == "neo4j":
            raise PluginError(f"invalid search engine name {name!r} (neo4j is built in)")
        if not callable(factory):
            raise PluginError(f"search engine {name} has no callable factory")
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

    def add_after_ingest(self, hook: Callable[[AfterIngest], None]) -> None:
        """`hook(event: plugins.api.AfterIngest)` runs after every recorded ingest run (ingest.sync), e.g. to
        update a search index; a failing hook is logged and never fails the run."""
        if not callable(hook):
            raise PluginError(f"after-ingest hook {hook!r} is not callable")
        self._after_ingest.append(hook)

    def after_ingest_hooks(self) -> list[Callable[[AfterIngest], None]]:
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
        if action.permission is not None:
            _check_permission(f"action {action.id}", action.permission)
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

    # ------------------------------------------------------------------ portal extension points (issue 14)
    _tabs: dict[str, EntityTab] = field(default_factory=dict)
    _cards: dict[str, OverviewCard] = field(default_factory=dict)
    _pages: dict[str, Page] = field(default_factory=dict)
    _webhooks: dict[str, Webhook] = field(default_factory=dict)
    _origin: dict[tuple[str, str], str] = field(default_factory=dict)   # (kind, id) -> plugin that added it

    def add_tab(self, tab: EntityTab) -> None:
        """An entity-page tab; its id may not be one of the portal's own tabs or another plugin's."""
        if not isinstance(tab, EntityTab):
            raise PluginError(f"{tab!r} is not a plugins.api.EntityTab")
        _check_id("tab", tab.id)
        if tab.id in PORTAL_TABS:
            raise PluginError(f"tab id {tab.id!r} is one of the portal's own tabs")
        if tab.after is not None and tab.after not in PORTAL_TABS:
            raise PluginError(f"tab {tab.id} follows {tab.after!r}, which is not a portal tab "
                              f"({', '.join(PORTAL_TABS)})")
        self._add("tab", self._tabs, tab, tab.render)

    def add_card(self, card: OverviewCard) -> None:
        """A card on the Overview tab of the entities its predicate matches."""
        if not isinstance(card, OverviewCard):
            raise PluginError(f"{card!r} is not a plugins.api.OverviewCard")
        _check_id("card", card.id)
        self._add("card", self._cards, card, card.render)

    def add_page(self, page: Page) -> None:
        """A page at /plugins/<id>."""
        if not isinstance(page, Page):
            raise PluginError(f"{page!r} is not a plugins.api.Page")
        _check_id("page", page.id)
        self._add("page", self._pages, page, page.render)

    def add_webhook(self, webhook: Webhook) -> None:
        """A route POST /api/v1/webhooks/<id>; PUBLIC ones authenticate their deliveries themselves."""
        if not isinstance(webhook, Webhook):
            raise PluginError(f"{webhook!r} is not a plugins.api.Webhook")
        _check_id("webhook", webhook.id)
        self._add("webhook", self._webhooks, webhook, webhook.handle, public=True)

    def _add(self, kind: str, table: dict, item: Any, function: Any, *, public: bool = False) -> None:
        if not callable(function):
            raise PluginError(f"{kind} {item.id} has nothing callable to render or handle it")
        _check_permission(f"{kind} {item.id}", item.permission, public=public)
        if item.id in table and table[item.id] is not item:
            raise PluginError(f"a {kind} with id {item.id!r} is already registered "
                              f"(by {self._origin.get((kind, item.id), 'another plugin')})")
        table[item.id] = item

    def tabs(self) -> list[EntityTab]:
        return [self._tabs[t] for t in sorted(self._tabs)]

    def cards(self) -> list[OverviewCard]:
        return [self._cards[c] for c in sorted(self._cards)]

    def page(self, page_id: str) -> Page | None:
        return self._pages.get(page_id)

    def pages(self) -> list[Page]:
        return [self._pages[p] for p in sorted(self._pages)]

    def webhook(self, webhook_id: str) -> Webhook | None:
        return self._webhooks.get(webhook_id)

    def webhooks(self) -> list[Webhook]:
        return [self._webhooks[w] for w in sorted(self._webhooks)]

    def origin(self, kind: str, item_id: str) -> str:
        """The plugin (entry point name) that registered a tab, card, page or webhook: named in failure logs."""
        return self._origin.get((kind, item_id), "unknown plugin")

    def merge(self, staged: "Registry", plugin: str) -> None:
        """Add everything one plugin registered (in its own staged registry) under its name."""
        for provider in staged.providers():
            self.add_provider(provider)
        for engine_name in staged.search_engines():
            self.add_search_engine(engine_name, staged.search_engine(engine_name))
        for hook in staged.after_ingest_hooks():
            self.add_after_ingest(hook)
        for action in staged.actions():
            self.add_action(action)
        for kind, items, add in (("tab", staged.tabs(), self.add_tab), ("card", staged.cards(), self.add_card),
                                 ("page", staged.pages(), self.add_page),
                                 ("webhook", staged.webhooks(), self.add_webhook)):
            for item in items:
                add(item)
                self._origin[(kind, item.id)] = plugin


def declared_api_version(register: Any) -> Any:
    """The `TRELLIS_API_VERSION` of the module defining a plugin's `register` (None: not declared)."""
    module = sys.modules.get(getattr(register, "__module__", None) or "")
    return getattr(module, "TRELLIS_API_VERSION", None)


def load_registry(entries: Iterable[EntryPoint] | None = None) -> Registry:
    """Call every `trellis.plugins` entry point's `register(registry)`; failures are recorded, not raised."""
    registry = Registry()
    eps = list(entries) if entries is not None else list(entry_points(group=ENTRY_POINT_GROUP))
    for ep in sorted(eps, key=lambda e: e.name):
        try:
            register = ep.load()
            incompatible = api_incompatibility(declared_api_version(register))
            if incompatible:
                raise PluginError(incompatible)
            staged = Registry()           # all or nothing: a plugin failing halfway registers none of it
            register(staged)
            registry.merge(staged, ep.name)
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


def run_after_ingest(event: AfterIngest) -> None:
    """Call every registered after-ingest hook (ingest.sync calls this once a run is recorded). Hooks are
    best effort: a failure is logged with the plugin's reason and the run stays as it was recorded."""
    for hook in registry().after_ingest_hooks():
        try:
            hook(event)
        except Exception:   # a search index being down must not fail an ingest
            log.exception("after-ingest hook %s failed", getattr(hook, "__qualname__", hook))
