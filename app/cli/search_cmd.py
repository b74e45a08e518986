"""`trellis search QUERY`: the portal's search from a terminal (same engine, same ranking).

The CLI is an operator's tool with direct database access, so it reads with full visibility, like the other
catalog commands.
"""
from __future__ import annotations

import re

import click

from app.cli.catalog_cmd import emit_json, fail, open_graph
from graph.search import DEFAULT_LIMIT, MAX_LIMIT, SearchError, SearchQuery, SearchUnavailable
from graph.visibility import EVERYTHING
from plugins.api import PluginError
from plugins.search import engine_for
import html

_MARK = re.compile(r"</?mark>")


def _plain(html_text: str) -> str:
    """A highlight as terminal text: marks become bold, entities unescaped."""
    parts = re.split(r"(<mark>.*?</mark>)", html_text)
    out = []
    for part in parts:
        if part.startswith("<mark>"):
            out.append(click.style(html.unescape(_MARK.sub("", part)), bold=True))
        else:
            out.append(html.unescape(part))
    return "".join(out)


@click.command()
@click.argument("query")
@click.option("--kind", "kinds", multiple=True, help="Only this kind (repeatable).")
@click.option("--owner", "owners", multiple=True, help="Only this owner, e.g. payments-team (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only results with this tag (repeatable, all must match).")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT, show_default=True)
@click.option("--page", type=click.IntRange(1, None), default=1, show_default=True)
@click.option("--engine", default=None, help="Search engine (default: $TRELLIS_SEARCH_ENGINE or neo4j).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
def search(query: str, kinds: tuple[str, ...], owners: tuple[str, ...], tags: tuple[str, ...], limit: int,
           page: int, engine: str | None, as_json: bool) -> None:
    """Find entities and docs pages: exact names first, then prefixes, then words anywhere; typos forgiven."""
    try:
        request = SearchQuery(text=query, kinds=kinds, owners=owners, tags=tags, limit=limit, page=page)
    except SearchError as exc:
        fail(str(exc))
    if not request.text:
        fail("the query is empty")
    with open_graph() as graph:
        try:
            result = engine_for(graph, engine).search(request, EVERYTHING)
        except (PluginError, SearchUnavailable) as exc:
            fail(str(exc))
    if as_json:
        emit_json(result.as_json())
        return
    if not result.hits:
        click.echo(f"No results for {request.text!r}." if result.total == 0 else f"No results on page {page}.")
        return
    first = request.skip + 1
    for i, hit in enumerate(result.hits, start=first):
        where = f"  [{hit.page['path']}]" if hit.page else ""
        click.echo(f"{i:>3}. {hit.ref}{where}  {_plain(hit.title_html)}")
        if hit.snippet_html:
            click.echo(f"     {_plain(hit.snippet_html)}")
    click.echo(f"\n{first}-{first + len(result.hits) - 1} of {result.total} results"
               + (f" (page {page} of {result.pages})" if result.pages > 1 else ""))


@click.command("search-reindex")
@click.option("--engine", default=None, help="Search engine (default: $TRELLIS_SEARCH_ENGINE or neo4j).")
@click.option("--json", "as_json", is_flag=True, help="Print the rebuild report as JSON.")
def search_reindex(engine: str | None, as_json: bool) -> None:
    """Rebuild the search index from the catalog: a new index, filled, then swapped in atomically.

    Needed once when switching to an external engine (OpenSearch/Elasticsearch); afterwards every ingest
    updates it. Neo4j's own full-text indexes are kept current by Neo4j and need no rebuild.
    """
    with open_graph() as graph:
        try:
            chosen = engine_for(graph, engine)
            rebuild = getattr(chosen, "rebuild", None)
            if rebuild is None:
                report = {"engine": chosen.name, "rebuilt": False,
                          "reason": "Neo4j keeps its full-text indexes current in every write; nothing to rebuild"}
            else:
                report = {"engine": chosen.name, "rebuilt": True, **rebuild()}
        except (PluginError, SearchUnavailable) as exc:
            fail(str(exc))
    if as_json:
        emit_json(report)
    elif report["rebuilt"]:
        click.echo(f"Rebuilt {report['index']} ({report['entities']} entities, {report['pages']} docs pages) "
                   f"in {report['seconds']} s; the alias now points at it.")
    else:
        click.echo(report["reason"] + ".")
