"""The Elasticsearch-API search engine: the same SearchQuery -> SearchResult as graph.search, on OpenSearch
(`opensearch-py`) or Elasticsearch 8 (`elasticsearch`), with one mapping and one query body for both.

Why: Neo4j's full-text indexes are the default and need nothing else; at larger catalogs (or when docs pages
dominate) a dedicated search cluster takes that load off the graph database.

- get: entity and docs-page documents from graph.search (entity_documents, doc_page_documents);
- transform: `entity_doc` / `page_doc` (pure) and `query_body` (pure; the same relevance rules as the Neo4j
  engine: exact name/title, then prefix, then text, fuzzy ~1 on each term, input never query syntax, the
  reader's visibility as a filter inside the query so totals and facets are honest);
- load: `rebuild` fills a new index and swaps the alias atomically; `update_source` applies one ingest run
  (changed documents upserted, removed ones deleted) right after it is recorded.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Iterable

from plugins.api import (DOCPAGE_FIELDS, ENTITY_FIELDS, EVERYTHING, FACET_TOP, FACETS, SearchHit, SearchQuery,
                         SearchResult, SearchUnavailable, Visibility, doc_page_documents, entity_documents,
                         exact_forms, highlight, index_is_stale, mark_index_stale, query_terms, query_words,
                         source_refs)

if TYPE_CHECKING:
    from plugins.api import Graph

log = logging.getLogger(__name__)

EXACT_BOOST = 1_000_000.0     # far above any text score: exact name/title matches always come first
PREFIX_BOOST = 10_000.0

# Search-field names in the index for graph.search's field names.
_INDEX_FIELD = {"name": "name", "title": "title", "tags": "tags.text", "owner": "owner.text",
                "description": "description", "text": "text"}
_PAGE_FIELD = {"title": "page_title", "text": "text"}

MAPPING: dict[str, Any] = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0, "max_result_window": 10_000}},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "doctype": {"type": "keyword"},
            "ref": {"type": "keyword"},
            "kind": {"type": "keyword"}, "kind_lc": {"type": "keyword"},
            "namespace": {"type": "keyword"},
            "name": {"type": "text"}, "name_lc": {"type": "keyword"},
            "title": {"type": "text"}, "title_lc": {"type": "keyword"},
            "description": {"type": "text"},
            "type": {"type": "keyword"}, "type_lc": {"type": "keyword"},
            "lifecycle": {"type": "keyword"}, "lifecycle_lc": {"type": "keyword"},
            "owner": {"type": "keyword", "fields": {"text": {"type": "text"}}},
            "tags": {"type": "keyword", "fields": {"text": {"type": "text"}}},
            "restricted": {"type": "boolean"},
            "source": {"type": "keyword"},
            "page_path": {"type": "keyword"},
            "page_title": {"type": "text"},
            "text": {"type": "text"},
        },
    },
}


# ------------------------------------------------------------------------------------ transform (pure)

def _lc(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else None


def entity_doc(row: dict) -> dict:
    """One entity row (graph.search.entity_documents) as an index document."""
    return {
        "doctype": "entity", "ref": row["ref"], "kind": row["kind"], "kind_lc": _lc(row["kind"]),
        "namespace": row["namespace"], "name": row["name"], "name_lc": _lc(row["name"]),
        "title": row["title"], "title_lc": _lc(row["title"]), "description": row["description"],
        "type": row["type"], "type_lc": _lc(row["type"]), "lifecycle": row["lifecycle"],
        "lifecycle_lc": _lc(row["lifecycle"]), "owner": row["owner"], "tags": list(row["tags"] or []),
        "restricted": bool(row["restricted"]), "source": row["source"],
    }


def page_doc(row: dict) -> dict:
    """One docs page (graph.search.doc_page_documents) as an index document: its text plus the documented
    entity's fields, so the same filters and visibility apply. Not matchable by the entity's name."""
    doc = entity_doc(row)
    doc.update(doctype="techdocs", name=None, name_lc=None, title=None, title_lc=None, description=None,
               page_path=row["page_path"], page_title=row["page_title"], text=row["text"])
    return doc


def doc_id(doc: dict) -> str:
    return doc["ref"] if doc["doctype"] == "entity" else f"{doc['ref']}#{doc['page_path']}"


def _term_query(term: str) -> dict:
    """`term` exactly, by prefix or one edit away: in an entity's fields, or in a docs page's title and text
    (a page carries its entity's owner and tags for filtering, but is not found by them)."""
    fuzzy = len(term) >= 3 and not term.isdigit()
    per_doctype: list[dict] = []
    for doctype, fields, names in (("entity", ENTITY_FIELDS, _INDEX_FIELD), ("techdocs", DOCPAGE_FIELDS, _PAGE_FIELD)):
        should: list[dict] = []
        for name, exact, prefix, fuzz in fields:
            field = names[name]
            should.append({"term": {field: {"value": term, "boost": exact}}})
            if prefix:
                should.append({"prefix": {field: {"value": term, "boost": prefix}}})
            if fuzz and fuzzy:
                should.append({"fuzzy": {field: {"value": term, "fuzziness": 1, "boost": fuzz}}})
        per_doctype.append({"bool": {"filter": [{"term": {"doctype": doctype}}], "should": should,
                                     "minimum_should_match": 1}})
    return {"bool": {"should": per_doctype, "minimum_should_match": 1}}


def _whole_word_query(raw: str) -> dict:
    """The whole word as the analyzer keeps it (`node.js`), as text (match queries never parse syntax)."""
    word = raw.strip("._:'")
    return {"bool": {"should": [
        {"bool": {"filter": [{"term": {"doctype": "entity"}}], "should": [{"multi_match": {
            "query": word, "type": "phrase", "fields": ["name^10", "title^8", "tags.text^3", "owner.text^2",
                                                        "description"]}},
            {"fuzzy": {"name": {"value": word.lower(), "fuzziness": 1, "boost": 3}}},
            {"fuzzy": {"title": {"value": word.lower(), "fuzziness": 1, "boost": 2}}}],
            "minimum_should_match": 1}},
        {"bool": {"filter": [{"term": {"doctype": "techdocs"}}], "must": [{"multi_match": {
            "query": word, "type": "phrase", "fields": ["page_title^4", "text"]}}]}},
    ], "minimum_should_match": 1}}


def visibility_filter(visibility: Visibility) -> dict | None:
    """The reader's Visibility (graph.visibility) as a query filter; None when they may see everything."""
    if visibility.everything:
        return None
    if visibility.nothing:
        return {"match_none": {}}
    clauses: list[dict] = [{"bool": {"should": [
        {"bool": {"must_not": {"term": {"restricted": True}}}},
        {"terms": {"owner": sorted(visibility.claims)}},
    ], "minimum_should_match": 1}}]
    if visibility.hidden_kinds:
        clauses.append({"bool": {"must_not": {"terms": {"kind_lc": sorted(visibility.hidden_kinds)}}}})
    return {"bool": {"filter": clauses}}


_FILTER_FIELDS = {"kind": "kind_lc", "type": "type_lc", "owner": "owner", "lifecycle": "lifecycle_lc"}


def query_body(query: SearchQuery, visibility: Visibility = EVERYTHING, *, entities_only: bool = False) -> dict:
    """The search request body for `query` (an empty match when there is nothing to search for)."""
    words = query_words(query.text)
    must: list[dict] = []
    for word in words:
        terms = [_term_query(t) for t in word.terms]
        if word.joined:
            must.append({"bool": {"should": [{"bool": {"must": terms}}, _whole_word_query(word.raw)],
                                  "minimum_should_match": 1}})
        else:
            must.extend(terms)
    forms = exact_forms(query.text)
    should: list[dict] = []
    if forms:
        should.append({"constant_score": {"filter": {"bool": {"should": [
            {"terms": {"name_lc": forms}}, {"terms": {"title_lc": forms}}]}}, "boost": EXACT_BOOST}})
        should.append({"constant_score": {"filter": {"bool": {"should": [
            {"prefix": {field: form}} for form in forms for field in ("name_lc", "title_lc")]}},
            "boost": PREFIX_BOOST}})
    filters: list[dict] = []
    vis = visibility_filter(visibility)
    if vis:
        filters.append(vis)
    for facet, values in query.filters().items():
        if facet == "tags":
            filters.extend({"term": {"tags": tag}} for tag in values)
        else:
            filters.append({"terms": {_FILTER_FIELDS[facet]: list(values)}})
    if entities_only or not query.docs:
        filters.append({"term": {"doctype": "entity"}})
    body: dict[str, Any] = {
        "query": {"bool": {"must": must or [{"match_none": {}}], "should": should, "filter": filters}},
        "from": query.skip, "size": query.limit, "track_total_hits": True,
        "sort": [{"_score": "desc"}, {"ref": "asc"}, {"page_path": {"order": "asc", "missing": "_first"}}],
    }
    if query.facets:
        body["aggs"] = {facet: {"terms": {"field": facet, "size": FACET_TOP, "order": [
            {"_count": "desc"}, {"_key": "asc"}]}} for facet in FACETS}
    return body


def _tier(source: dict, forms: list[str]) -> int:
    if source["doctype"] != "entity":
        return 2
    names = [v for v in (source.get("name_lc"), source.get("title_lc")) if v]
    if any(v in forms for v in names):
        return 0
    if any(v.startswith(f) for v in names for f in forms):
        return 1
    return 2


def result_from_response(query: SearchQuery, response: dict, engine: str) -> SearchResult:
    """The engine's response as the shared SearchResult (highlights built like the Neo4j engine's)."""
    terms = query_terms(query.text)
    forms = exact_forms(query.text)
    hits: list[SearchHit] = []
    for raw in response["hits"]["hits"]:
        s = raw["_source"]
        is_doc = s["doctype"] == "techdocs"
        title = s.get("page_title") if is_doc else (s.get("title") or s.get("name"))
        hits.append(SearchHit(
            doctype=s["doctype"], ref=s["ref"], kind=s.get("kind") or "", namespace=s.get("namespace") or "",
            name=s.get("name") or s["ref"].rsplit("/", 1)[-1], title=s.get("title"),
            description=s.get("description"), type=s.get("type"), lifecycle=s.get("lifecycle"),
            owner=s.get("owner"), tags=list(s.get("tags") or []), score=float(raw.get("_score") or 0.0),
            tier=_tier(s, forms),
            page={"path": s["page_path"], "title": s.get("page_title")} if is_doc else None,
            title_html=highlight(title, terms),
            snippet_html=highlight(s.get("text") if is_doc else s.get("description"), terms, width=240),
        ))
    total = response["hits"].get("total", len(hits))      # suggestions do not count
    exact = not (isinstance(total, dict) and total.get("relation") == "gte")
    total = total["value"] if isinstance(total, dict) else int(total)
    facets: dict[str, list[dict]] = {}
    if query.facets:
        for facet in FACETS:
            buckets = response.get("aggregations", {}).get(facet, {}).get("buckets", [])
            facets[facet] = [{"value": b["key"], "count": b["doc_count"]} for b in buckets]
    return SearchResult(query, total, hits, facets, engine=engine, total_exact=exact)


# ---------------------------------------------------------------------------------- the client side

class Backend:
    """The few index operations the engine needs, over opensearch-py or elasticsearch-py (same calls)."""

    def __init__(self, flavor: str, url: str, *, user: str | None = None, password: str | None = None,
                 timeout: float = 10.0) -> None:
        auth = (user, password or "") if user else None
        self.flavor = flavor
        if flavor == "opensearch":
            from opensearchpy import OpenSearch  # noqa: PLC0415 -- optional dependency: only the chosen flavor's client
            from opensearchpy.exceptions import ConnectionError as ConnError, NotFoundError, TransportError  # noqa: PLC0415 -- optional dependency: only the chosen flavor's client

            self.client = OpenSearch(hosts=[url], http_auth=auth, timeout=timeout, max_retries=1,
                                     retry_on_timeout=False)
        elif flavor == "elasticsearch":
            from elasticsearch import Elasticsearch  # noqa: PLC0415 -- optional dependency: only the chosen flavor's client
            from elasticsearch import ConnectionError as ConnError, NotFoundError, TransportError  # noqa: PLC0415 -- optional dependency: only the chosen flavor's client

            self.client = Elasticsearch(hosts=[url], basic_auth=auth, request_timeout=timeout, max_retries=1)
        else:
            raise ValueError(f"unknown search backend {flavor!r} (opensearch or elasticsearch)")
        self._down = (ConnError,)
        self._missing = NotFoundError
        self._transport = TransportError

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._down as exc:
            raise SearchUnavailable(f"the {self.flavor} search cluster is not reachable: {exc}") from exc

    def search(self, index: str, body: dict) -> dict:
        try:
            return dict(self._call(self.client.search, index=index, body=body))
        except self._missing:
            raise SearchUnavailable(f"search index {index!r} does not exist yet: run `trellis search-reindex`") from None

    def create_index(self, name: str, body: dict) -> None:
        self._call(self.client.indices.create, index=name, body=body)

    def delete_index(self, name: str) -> None:
        self._call(self.client.indices.delete, index=name)

    def refresh(self, name: str) -> None:
        self._call(self.client.indices.refresh, index=name)

    def bulk(self, operations: list[dict]) -> None:
        if not operations:
            return
        response = self._call(self.client.bulk, body=operations)
        if response.get("errors"):
            failed = [item for item in response["items"]
                      if next(iter(item.values())).get("error") and next(iter(item.values())).get("status") != 404]
            if failed:
                raise RuntimeError(f"{len(failed)} search documents were refused, first: {failed[0]}")

    def alias_indices(self, alias: str) -> list[str]:
        try:
            return sorted(self._call(self.client.indices.get_alias, name=alias))
        except self._missing:
            return []

    def swap_alias(self, alias: str, new: str, old: list[str]) -> None:
        """Point `alias` at `new` and away from `old` in one atomic cluster update."""
        actions = [{"remove": {"index": i, "alias": alias}} for i in old]
        actions.append({"add": {"index": new, "alias": alias}})
        self._call(self.client.indices.update_aliases, body={"actions": actions})

    def ids(self, index: str, source: str) -> set[str]:
        """Ids of one location's documents (entities and their pages), paged with search_after."""
        out: set[str] = set()
        after: list | None = None
        while True:
            body: dict[str, Any] = {"query": {"term": {"source": source}}, "size": 5000, "_source": False,
                                    "sort": [{"ref": "asc"}, {"page_path": {"order": "asc", "missing": "_first"}}]}
            if after:
                body["search_after"] = after
            hits = self.search(index, body)["hits"]["hits"]
            if not hits:
                return out
            out.update(h["_id"] for h in hits)
            after = hits[-1]["sort"]


class ElasticsearchApiEngine:
    """The search engine over one alias (`index`) on an OpenSearch or Elasticsearch cluster."""

    def __init__(self, graph: "Graph", backend: Backend, index: str = "trellis-search") -> None:
        self.graph, self.backend, self.alias = graph, backend, index
        self.name = backend.flavor

    # ---- reads
    def search(self, query: SearchQuery, visibility: Visibility = EVERYTHING) -> SearchResult:
        if not query_terms(query.text) or visibility.nothing:
            return SearchResult(query, 0, [], {f: [] for f in FACETS} if query.facets else {}, engine=self.name)
        response = self.backend.search(self.alias, query_body(query, visibility))
        return result_from_response(query, response, self.name)

    def suggest(self, text: str, visibility: Visibility = EVERYTHING, limit: int = 8) -> list[dict]:
        query = SearchQuery(text, limit=max(1, min(limit, 20)), facets=False, docs=False)
        if not query_terms(query.text) or visibility.nothing:
            return []
        body = query_body(query, visibility, entities_only=True)
        body["track_total_hits"] = False
        result = result_from_response(query, self.backend.search(self.alias, body), self.name)
        return [{"ref": h.ref, "kind": h.kind, "namespace": h.namespace, "name": h.name, "title": h.title,
                 "label_html": h.title_html} for h in result.hits]

    # ---- writes
    def _operations(self, docs: Iterable[dict], index: str) -> list[dict]:
        ops: list[dict] = []
        for doc in docs:
            ops.append({"index": {"_index": index, "_id": doc_id(doc)}})
            ops.append(doc)
        return ops

    def rebuild(self, batch: int = 2000) -> dict:
        """Index everything into a new index, then move the alias to it atomically and drop the old ones.
        Searches keep answering from the old index until the swap."""
        started = time.perf_counter()
        new = f"{self.alias}-{time.strftime('%Y%m%d%H%M%S')}-{int(time.time() * 1000) % 1000:03d}"
        self.backend.create_index(new, MAPPING)
        count = pages = 0
        try:
            for rows in entity_documents(self.graph, batch=batch):
                self.backend.bulk(self._operations((entity_doc(r) for r in rows), new))
                count += len(rows)
            page_rows = doc_page_documents(self.graph)
            for start in range(0, len(page_rows), batch):
                self.backend.bulk(self._operations((page_doc(r) for r in page_rows[start:start + batch]), new))
            pages = len(page_rows)
            self.backend.refresh(new)
            old = [i for i in self.backend.alias_indices(self.alias) if i != new]
            self.backend.swap_alias(self.alias, new, old)
        except Exception:
            self.backend.delete_index(new)   # a failed rebuild leaves the live index as it was
            raise
        for index in old:
            self.backend.delete_index(index)
        return {"index": new, "entities": count, "pages": pages, "replaced": old,
                "seconds": round(time.perf_counter() - started, 2)}

    def update_source(self, source: str, run: str | None = None) -> dict:
        """Apply one ingest run of `source`: upsert what the run wrote (and its pages), delete what the
        location no longer has. Without an index yet, build it whole."""
        if not self.backend.alias_indices(self.alias) or index_is_stale(self.graph, self.alias):
            report = self.rebuild()
            mark_index_stale(self.graph, self.alias, False)
            return {"rebuilt": report}
        changed: list[str] = []
        for rows in entity_documents(self.graph, source=source, run=run):
            self.backend.bulk(self._operations((entity_doc(r) for r in rows), self.alias))
            changed += [r["ref"] for r in rows]
        pages = doc_page_documents(self.graph, changed) if changed else []
        self.backend.bulk(self._operations((page_doc(r) for r in pages), self.alias))
        live = source_refs(self.graph, source)
        live_pages = {doc_id(page_doc(r)) for r in doc_page_documents(self.graph, live)} if live else set()
        stale = self.backend.ids(self.alias, source) - live - live_pages
        self.backend.bulk([{"delete": {"_index": self.alias, "_id": i}} for i in sorted(stale)])
        self.backend.refresh(self.alias)
        return {"upserted": len(changed) + len(pages), "deleted": len(stale)}

    def index_doc_pages(self, entity_ref: str) -> None:
        """Re-index one entity's docs pages from the graph (after graph.search.index_doc_pages)."""
        rows = doc_page_documents(self.graph, [entity_ref])
        wanted = {doc_id(page_doc(r)) for r in rows}
        body = {"query": {"bool": {"filter": [{"term": {"ref": entity_ref}}, {"term": {"doctype": "techdocs"}}]}},
                "size": 10_000, "_source": False}
        present = {h["_id"] for h in self.backend.search(self.alias, body)["hits"]["hits"]}
        ops = self._operations((page_doc(r) for r in rows), self.alias)
        ops += [{"delete": {"_index": self.alias, "_id": i}} for i in sorted(present - wanted)]
        self.backend.bulk(ops)
        self.backend.refresh(self.alias)
