"""Where the portal mounts what plugins registered (plugins.api): entity tabs, overview cards and pages.

One mechanism for all of them: the portal checks the permission the plugin declared (on the entity shown for
tabs and cards, on the portal for pages) BEFORE calling the plugin, builds the context the plugin renders
from (with the reader's visibility and the portal services it may ask for), and isolates a plugin that
raises: the failure is logged with the plugin's name and the page still renders, never a 500 for it all.
Plugin HTML is inserted as the plugin returned it: a plugin is installed code, trusted like Trellis itself,
and escapes what it did not write (plugins.api.escape).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from flask import abort, render_template, request
from markupsafe import Markup, escape

from app.auth import access
from app.graph_access import get_graph
from app.web import bp
from app.web.docs_views import docs_tab_html
from plugins.api import EntityPage, EntityTab, PageRequest
from plugins.registry import registry

log = logging.getLogger(__name__)

# What the portal offers plugins' tabs and cards (EntityPage.service(name)): implementations that live above
# the plugins (the docs builder's storage, sanitising) behind a name.
SERVICES: dict[str, Callable[..., Any]] = {"techdocs.tab": docs_tab_html}


def plugin_tab(tab_id: str) -> EntityTab | None:
    return next((t for t in registry().tabs() if t.id == tab_id), None)


def entity_page(graph: Any, ref: str, entity: dict) -> EntityPage:
    """The context a tab or card renders from, for the current reader."""
    return EntityPage(graph=graph, ref=ref, entity=entity, args=request.args, visibility=access.visibility(),
                      can=lambda permission: access.can(permission, entity=entity), services=SERVICES)


def may_see_tab(tab_id: str, entity: dict) -> bool:
    """Whether the reader holds the permission a plugin tab declared (portal tabs: reading the entity)."""
    tab = plugin_tab(tab_id)
    return tab is None or access.can(tab.permission, entity=entity)


def render_tab(tab: EntityTab, page: EntityPage) -> Markup:
    """A plugin tab's panel; refused (403/404, audited) without its permission, isolated when it raises."""
    access.require(tab.permission, entity=page.entity)
    return _isolated("tab", tab.id, tab.render, page,
                     f"The {tab.title} tab could not be shown: its plugin failed (the error is logged).")


def overview_cards(page: EntityPage) -> list[dict]:
    """The plugin cards for this entity the reader may see: {id, title, html}; a failing one says so."""
    cards = []
    for card in registry().cards():
        if not card.when.matches(page.entity) or not access.can(card.permission, entity=page.entity):
            continue
        html = _isolated("card", card.id, card.render, page,
                         "This card could not be shown: its plugin failed (the error is logged).")
        cards.append({"id": card.id, "title": card.title, "html": html})
    return cards


def _isolated(kind: str, item_id: str, render: Callable[[Any], str], context: Any, failed: str) -> Markup:
    try:
        return Markup(str(render(context)))
    except Exception:   # a plugin bug: this panel says so, the rest of the page renders
        log.exception("plugin %s: %s %s failed to render", registry().origin(kind, item_id), kind, item_id)
        return Markup('<div class="alert alert--error" role="alert"><p>{}</p></div>').format(escape(failed))


@bp.get("/plugins/<page_id>", endpoint="plugin_page")
def plugin_page(page_id: str):
    """A page a plugin registered, inside the portal's layout; its declared permission is checked first."""
    page = registry().page(page_id)
    if page is None:
        abort(404, description=f"no plugin page {page_id!r} is installed")
    access.require(page.permission)
    context = PageRequest(graph=get_graph(), args=request.args, visibility=access.visibility(),
                          can=lambda permission: access.can(permission))
    try:
        html = Markup(str(page.render(context)))
    except Exception:   # the page is the plugin's: say so clearly, no traceback
        log.exception("plugin %s: page %s failed to render", registry().origin("page", page_id), page_id)
        return render_template("error.html", status=502, code="plugin_failed",
                               message=f"The page {page.title} could not be shown: its plugin failed "
                                       "(the error is logged)."), 502
    return render_template("plugin_page.html", page=page, page_html=html)
