"""Search over entities and TechDocs pages, on Neo4j's full-text (Lucene) indexes: the default engine.

Why Neo4j and not a separate service by default: the indexes (graph/schema.py) are updated in the same
transaction as every ingest write, so search is never stale and needs nothing else running. At larger scale
the Elasticsearch-API engine plugin (plugins/builtin/opensearch) answers the same `SearchQuery` with the
same result shape.

Relevance, in this order: an exact name or title match, then a name or title that starts with the query,
then everything else by Lucene's score, where a word in the name or title weighs more than one in the tags,
owner or description. Each query word may be one edit away (Lucene fuzzy `~1`), so one-letter typos still
find the entity. User input never reaches Lucene as syntax: it is cut into letter/digit terms (and
otherwise escaped), so `"(*:~` and `name:x` are text, not operators.

Permissions are part of the query: the reader's `Visibility` predicate filters inside the same Cypher
statement that counts, pages and facets, so pages are full and counts honest. A docs page is visible when
the entity it documents is.
"""
from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from graph.model import RefError, parse_ref
from graph.visibility import EVERYTHING, Visibility

if TYPE_CHECKING:
    from graph.driver import Graph

ENTITY_INDEX = "entity_search"
DOCPAGE_INDEX = "docpage_search"
ANALYZER = "standard-no-stop-words"    # no stop words: "the-one-service" stays findable by every word
FACETS: tuple[str, ...] = ("kind", "type", "owner", "lifecycle", "tags")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CANDIDATES = 500                   # best matches per index that are ranked, counted and faceted
MAX_WINDOW = MAX_CANDIDATES            # deepest result reachable by paging (page * limit)
SUGGEST_CANDIDATES = 200
MAX_QUERY_CHARS = 200
MAX_TERMS = 12
FACET_TOP = 30                         # values listed per facet
MAX_DOC_TEXT = 200_000                 # characters of one docs page kept for search
MAX_DOC_PAGES = 5_000                  # pages per entity

_TERM = re.compile(r"[^\W_]+")         # letters and digits: what the standard analyzer keeps apart
_JOINERS = re.compile(r"[._:']")       # characters the standard tokenizer keeps inside one token
_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/.\s])')

# (field, exact boost, prefix boost, fuzzy boost); 0 = no such clause.
ENTITY_FIELDS: tuple[tuple[str, float, float, float], ...] = (
    ("name", 10, 6, 3),
    ("title", 8, 4, 2),
    ("tags", 3, 1.5, 0),
    ("owner", 2, 1, 0),
    ("description", 1, 0.5, 0),
)
DOCPAGE_FIELDS: tuple[tuple[str, float, float, float], ...] = (
    ("title", 4, 2, 1),
    ("text", 1, 0.3, 0),
)


class SearchError(ValueError):
    """A search request that cannot be answered as asked (too long, page out of range)."""


# ---------------------------------------------------------------------------------------- the request

@dataclass(frozen=True)
class SearchQuery:
    """One search: the words, facet filters (each a set of accepted values, AND across facets), a page."""

    text: str
    kinds: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    lifecycles: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    page: int = 1
    limit: int = DEFAULT_LIMIT
    facets: bool = True               # compute facet counts
    docs: bool = True                 # include TechDocs pages

    def __post_init__(self) -> None:
        text = " ".join(str(self.text or "").split())
        if len(text) > MAX_QUERY_CHARS:
            raise SearchError(f"the query is too long (at most {MAX_QUERY_CHARS} characters)")
        object.__setattr__(self, "text", text)
        if not 1 <= self.limit <= MAX_LIMIT:
            raise SearchError(f"limit must be between 1 and {MAX_LIMIT}")
        if self.page < 1:
            raise SearchError("page must be 1 or more")
        if self.page * self.limit > MAX_WINDOW:
            raise SearchError(f"only the first {MAX_WINDOW} results can be paged through; refine the query")
        object.__setattr__(self, "kinds", _lowered(self.kinds))
        object.__setattr__(self, "types", _lowered(self.types))
        object.__setattr__(self, "lifecycles", _lowered(self.lifecycles))
        object.__setattr__(self, "tags", _lowered(self.tags))
        object.__setattr__(self, "owners", tuple(owner_ref(o) for o in self.owners if o.strip()))

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.limit

    def filters(self) -> dict[str, tuple[str, ...]]:
        """The facet filters by facet name (only those set)."""
        pairs = {"kind": self.kinds, "type": self.types, "owner": self.owners, "lifecycle": self.lifecycles,
                 "tags": self.tags}
        return {k: v for k, v in pairs.items() if v}


def _lowered(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip().lower() for v in values if v and v.strip()))


def owner_ref(value: str) -> str:
    """An owner filter as the canonical ref stored on entities (`payments` -> `group:default/payments`)."""
    try:
        return str(parse_ref(value.strip(), default_kind="group"))
    except RefError as exc:
        raise SearchError(f"owner {value!r}: {exc}") from None


# ---------------------------------------------------------------------------------------- the answer

@dataclass
class SearchHit:
    """One result: an entity, or a docs page of an entity (`doctype` "techdocs", with `page`)."""

    doctype: str
    ref: str
    kind: str
    namespace: str
    name: str
    title: str | None
    description: str | None
    type: str | None
    lifecycle: str | None
    owner: str | None
    tags: list[str]
    score: float
    tier: int                              # 0 exact, 1 prefix, 2 other
    page: dict | None = None               # {"path", "title"} for docs pages
    title_html: str = ""                   # escaped, <mark> around matched words
    snippet_html: str = ""

    def as_json(self) -> dict:
        return {
            "doctype": self.doctype, "ref": self.ref, "kind": self.kind, "namespace": self.namespace,
            "name": self.name, "title": self.title, "description": self.description, "type": self.type,
            "lifecycle": self.lifecycle, "owner": self.owner, "tags": self.tags, "score": round(self.score, 4),
            "match": ("exact", "prefix", "text")[self.tier], "page": self.page,
            "highlight": {"title": self.title_html, "snippet": self.snippet_html},
        }


@dataclass
class SearchResult:
    query: SearchQuery
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[dict]] = field(default_factory=dict)   # facet -> [{"value", "count"}]
    engine: str = "neo4j"
    total_exact: bool = True               # False: more matched than were ranked; total is a lower bound

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.limit))

    def as_json(self) -> dict:
        q = self.query
        return {
            "query": q.text, "engine": self.engine, "total": self.total, "total_exact": self.total_exact,
            "page": q.page, "limit": q.limit,
            "pages": self.pages, "filters": {k: list(v) for k, v in q.filters().items()},
            "items": [h.as_json() for h in self.hits], "facets": self.facets,
        }


class SearchEngine(Protocol):
    """What every engine provides (graph.search.Neo4jSearch here; plugins add others, e.g. OpenSearch)."""

    name: str

    def search(self, query: SearchQuery, visibility: Visibility) -> SearchResult: ...

    def suggest(self, text: str, visibility: Visibility, limit: int = 8) -> list[dict]: ...


# ------------------------------------------------------------------------------- query text (pure)

def escape_lucene(text: str) -> str:
    """Backslash every character Lucene's query parser treats as syntax (and whitespace)."""
    return _LUCENE_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class Word:
    """One whitespace-separated word of the query: its letter/digit terms, and the whole word when the
    analyzer may keep it as one token (`node.js`, `a_b`)."""

    raw: str
    terms: tuple[str, ...]

    @property
    def joined(self) -> bool:
        return len(self.terms) > 1 and bool(_JOINERS.search(self.raw))


def query_words(text: str) -> list[Word]:
    """The query cut into words and terms, lower-cased; words without a letter or digit are dropped."""
    words: list[Word] = []
    count = 0
    for raw in text.lower().split():
        terms = tuple(_TERM.findall(raw))
        if not terms:
            continue
        terms = terms[: max(0, MAX_TERMS - count)]
        if not terms:
            break
        count += len(terms)
        words.append(Word(raw, terms))
    return words


def query_terms(text: str) -> list[str]:
    return [t for w in query_words(text) for t in w.terms]


def exact_forms(text: str) -> list[str]:
    """What an exactly matching name or title looks like (`payments db` -> `payments-db`, `payments db`, ...)."""
    terms = query_terms(text)
    if not terms:
        return []
    lowered = " ".join(text.lower().split())
    forms = [lowered, "-".join(terms), "_".join(terms), ".".join(terms), " ".join(terms), "".join(terms)]
    return list(dict.fromkeys(forms))


def _fmt(boost: float) -> str:
    return f"{boost:g}"


def _term_clause(term: str, fields: tuple[tuple[str, float, float, float], ...]) -> str:
    """Any field matching `term` exactly, by prefix or one edit away. `term` is letters/digits only."""
    parts: list[str] = []
    fuzzy = len(term) >= 3 and not term.isdigit()
    for name, exact, prefix, fuzz in fields:
        parts.append(f"{name}:{term}^{_fmt(exact)}")
        if prefix:
            parts.append(f"{name}:{term}*^{_fmt(prefix)}")
        if fuzz and fuzzy:
            parts.append(f"{name}:{term}~1^{_fmt(fuzz)}")
    return "(" + " ".join(parts) + ")"


def _whole_clause(raw: str, fields: tuple[tuple[str, float, float, float], ...]) -> str:
    """The whole word as the analyzer would keep it (`node.js`), escaped."""
    word = escape_lucene(raw.strip("._:'"))
    parts: list[str] = []
    for name, exact, prefix, fuzz in fields:
        parts.append(f"{name}:{word}^{_fmt(exact)}")
        if prefix:
            parts.append(f"{name}:{word}*^{_fmt(prefix)}")
        if fuzz:
            parts.append(f"{name}:{word}~1^{_fmt(fuzz)}")
    return "(" + " ".join(parts) + ")"


def lucene_query(text: str, fields: tuple[tuple[str, float, float, float], ...] = ENTITY_FIELDS) -> str:
    """The Lucene query for `text`: every term required (in some field), each exact, prefix or fuzzy.

    Built only from letter/digit terms and escaped words, so nothing the user typed is query syntax.
    Returns "" when the text has no searchable term.
    """
    groups: list[str] = []
    for word in query_words(text):
        terms = " ".join(f"+{_term_clause(t, fields)}" for t in word.terms)
        if word.joined:
            groups.append(f"+(({terms}) {_whole_clause(word.raw, fields)})")
        else:
            groups.append(terms)
    return " ".join(groups)


# ----------------------------------------------------------------------------- highlighting (pure)

def _edit1(a: str, b: str) -> bool:
    """Levenshtein (with adjacent transposition) distance of at most one."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def word_matches(word: str, terms: Iterable[str]) -> bool:
    """Does a word of the text match a query term (exactly, as a prefix, or one edit away)?"""
    w = word.lower()
    for t in terms:
        if w.startswith(t) or (len(t) >= 3 and not t.isdigit() and _edit1(w, t)):
            return True
    return False


def highlight(text: str | None, terms: list[str], *, width: int | None = None) -> str:
    """`text` HTML-escaped, with `<mark>` around words matching `terms`; cut to about `width` characters
    around the first match (with ellipses) when given. Safe to insert into a page as is."""
    if not text:
        return ""
    matches = [m for m in _TERM.finditer(text) if word_matches(m.group(), terms)] if terms else []
    start, end = 0, len(text)
    if width is not None and len(text) > width:
        first = matches[0].start() if matches else 0
        start = max(0, first - width // 4)
        if start:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space >= 0 and start - space < 20 else start
        end = min(len(text), start + width)
        if end < len(text):
            space = text.find(" ", end)
            end = space if 0 <= space - end < 20 else end
    out: list[str] = ["…" if start else ""]
    pos = start
    for m in matches:
        if m.start() < start:
            continue
        if m.end() > end:
            break
        out.append(html.escape(text[pos:m.start()]))
        out.append(f"<mark>{html.escape(m.group())}</mark>")
        pos = m.end()
    out.append(html.escape(text[pos:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)


# ---------------------------------------------------------------------------------- the Neo4j engine

_ENTITY_PART = (
    "CALL db.index.fulltext.queryNodes('" + ENTITY_INDEX + "', $lucene, {limit: $cap}) YIELD node, score "
    "RETURN node AS n, null AS p, score"
)
_DOCS_PART = (
    "CALL db.index.fulltext.queryNodes('" + DOCPAGE_INDEX + "', $doc_lucene, {limit: $cap}) YIELD node, score "
    # a placeholder has no owner and no restriction: the pages of an entity that left the catalog are nobody's
    "MATCH (node)-[:DOCUMENTS]->(n:Entity) WHERE NOT n:Unresolved RETURN n, node AS p, score"
)
_TIER = (
    "CASE WHEN p IS NOT NULL THEN 2 "
    "WHEN n.name_lc IN $forms OR n.title_lc IN $forms THEN 0 "
    "WHEN any(f IN $forms WHERE n.name_lc STARTS WITH f OR n.title_lc STARTS WITH f) THEN 1 ELSE 2 END"
)
_FILTERS = {
    "kind": "toLower(n.kind) IN $f_kind",
    "type": "n.type_lc IN $f_type",
    "owner": "n.owner IN $f_owner",
    "lifecycle": "n.lifecycle_lc IN $f_lifecycle",
    "tags": "all(t IN $f_tags WHERE t IN coalesce(n.tags, []))",
}


def _candidates(query: SearchQuery, visibility: Visibility, cap: int) -> tuple[str, dict[str, Any]]:
    """The Cypher that yields (n, p, score, tier, visible) for the best `cap` matches of each index, and its
    parameters. `visible` is the reader's visibility predicate and the facet filters: evaluated inside the
    query, so what is counted and paged is only what the reader may see."""
    params: dict[str, Any] = {
        "lucene": lucene_query(query.text, ENTITY_FIELDS), "forms": exact_forms(query.text), "cap": cap,
        **visibility.params(),
    }
    if query.docs:
        params["doc_lucene"] = lucene_query(query.text, DOCPAGE_FIELDS)
        source = f"CALL {{ {_ENTITY_PART} UNION ALL {_DOCS_PART} }} "
    else:
        source = f"CALL {{ {_ENTITY_PART} }} "
    where = [f"({visibility.predicate('n')})"]
    for facet, values in query.filters().items():
        where.append(_FILTERS[facet])
        params[f"f_{facet}"] = list(values)
    cypher = source + f"WITH n, p, score, {_TIER} AS tier, (" + " AND ".join(where) + ") AS visible "
    return cypher, params


def _hit(row: dict, terms: list[str]) -> SearchHit:
    is_doc = row["page_path"] is not None
    name = row["name"] or ""
    title = row["page_title"] if is_doc else (row["title"] or name)
    snippet_source = row["page_text"] if is_doc else row["description"]
    return SearchHit(
        doctype="techdocs" if is_doc else "entity", ref=row["ref"], kind=row["kind"] or "",
        namespace=row["namespace"] or "", name=name, title=row["title"], description=row["description"],
        type=row["type"], lifecycle=row["lifecycle"], owner=row["owner"], tags=list(row["tags"] or []),
        score=float(row["score"]), tier=int(row["tier"]),
        page={"path": row["page_path"], "title": row["page_title"]} if is_doc else None,
        title_html=highlight(title or name, terms), snippet_html=highlight(snippet_source, terms, width=240),
    )


class Neo4jSearch:
    """The default engine: Neo4j's full-text indexes, queried with the reader's visibility inside."""

    name = "neo4j"

    def __init__(self, graph: "Graph") -> None:
        self.graph = graph

    def search(self, query: SearchQuery, visibility: Visibility = EVERYTHING) -> SearchResult:
        return search(self.graph, query, visibility)

    def suggest(self, text: str, visibility: Visibility = EVERYTHING, limit: int = 8) -> list[dict]:
        return suggest(self.graph, text, visibility, limit)


def search(graph: "Graph", query: SearchQuery, visibility: Visibility = EVERYTHING, *,
           cap: int = MAX_CANDIDATES) -> SearchResult:
    """One page of results with the total and facet counts, in a single statement.

    The best `cap` matches of each index (by Lucene score) are ranked, counted and faceted; past that the
    total is reported as a lower bound (`SearchResult.total_exact` False, shown as "N+"), as search engines
    do, so a one-letter query over 100k entities stays fast. Whatever is counted is only what the reader may
    see: the visibility predicate is evaluated inside the query, never afterwards.
    """
    terms = query_terms(query.text)
    if not terms or visibility.nothing:
        return SearchResult(query, 0, [], {f: [] for f in FACETS} if query.facets else {})
    prefix, params = _candidates(query, visibility, cap)
    params.update(skip=query.skip, limit=query.limit)
    facet_col = ("collect(CASE WHEN visible THEN [n.kind, n.type, n.owner, n.lifecycle, n.tags] END) AS fv, "
                 if query.facets else "")
    cypher = (
        prefix +
        "ORDER BY tier, score DESC, n.ref, p.path "
        "WITH collect(CASE WHEN visible THEN {n: n, p: p, score: score, tier: tier} END) AS hits, " + facet_col +
        "sum(CASE WHEN p IS NULL THEN 1 ELSE 0 END) AS raw_entities, "
        "sum(CASE WHEN p IS NULL THEN 0 ELSE 1 END) AS raw_pages "
        "RETURN size(hits) AS total, raw_entities >= $cap OR raw_pages >= $cap AS capped, "
        "[h IN hits[$skip..($skip + $limit)] | {ref: h.n.ref, kind: h.n.kind, namespace: h.n.namespace, "
        "name: h.n.name, title: h.n.title, description: h.n.description, type: h.n.type, "
        "lifecycle: h.n.lifecycle, owner: h.n.owner, tags: h.n.tags, page_path: h.p.path, "
        "page_title: h.p.title, page_text: h.p.text, score: h.score, tier: h.tier}] AS items" +
        (", fv" if query.facets else "")
    )
    record = graph.read(cypher, **params)[0]
    hits = [_hit(row, terms) for row in record["items"]]
    facets = facet_counts(record["fv"]) if query.facets else {}
    return SearchResult(query, record["total"], hits, facets, total_exact=not record["capped"])


def facet_counts(rows: list[list], top: int | None = None) -> dict[str, list[dict]]:
    """Facet counts from one [kind, type, owner, lifecycle, tags] row per visible hit: the `top` most frequent
    values of each facet (ties by value). Counted here rather than in Cypher: one pass over the rows instead
    of one per facet."""
    top = FACET_TOP if top is None else top
    counters: dict[str, Counter] = {f: Counter() for f in FACETS}
    kind, type_, owner, lifecycle, tags = (counters[f] for f in FACETS)
    for k, t, o, lc, tg in rows:
        if k is not None:
            kind[k] += 1
        if t is not None:
            type_[t] += 1
        if o is not None:
            owner[o] += 1
        if lc is not None:
            lifecycle[lc] += 1
        if tg:
            tags.update(tg)
    return {f: [{"value": v, "count": c} for v, c in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:top]]
            for f, counter in counters.items()}


def suggest(graph: "Graph", text: str, visibility: Visibility = EVERYTHING, limit: int = 8) -> list[dict]:
    """The best few entities for what has been typed so far (no count, no facets, no docs)."""
    query = SearchQuery(text, limit=max(1, min(limit, 20)), facets=False, docs=False)
    terms = query_terms(query.text)
    if not terms or visibility.nothing:
        return []
    prefix, params = _candidates(query, visibility, SUGGEST_CANDIDATES)
    rows = graph.read(
        prefix + "WITH n, tier, score WHERE visible ORDER BY tier, score DESC, n.ref LIMIT $limit "
        "RETURN n.ref AS ref, n.kind AS kind, n.name AS name, n.title AS title, n.namespace AS namespace",
        limit=query.limit, **params,
    )
    return [
        {"ref": r["ref"], "kind": r["kind"], "namespace": r["namespace"], "name": r["name"], "title": r["title"],
         "label_html": highlight(r["title"] or r["name"], terms)}
        for r in rows
    ]


# ------------------------------------------------------------------------------------ docs pages

def _clean_pages(entity_ref: str, pages: list[dict]) -> list[dict]:
    """Validate what a docs build hands over; a bad page refuses the whole batch (nothing half-replaced)."""
    if not isinstance(pages, list):
        raise ValueError("pages must be a list of {path, title, text} objects")
    if len(pages) > MAX_DOC_PAGES:
        raise ValueError(f"too many pages for {entity_ref} ({len(pages)}; at most {MAX_DOC_PAGES})")
    out: dict[str, dict] = {}
    for i, page in enumerate(pages):
        if not isinstance(page, dict):
            raise ValueError(f"page {i}: expected an object with path, title and text")
        path, title, text = page.get("path"), page.get("title"), page.get("text", "")
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"page {i}: path must be a non-empty string")
        if title is not None and not isinstance(title, str):
            raise ValueError(f"page {i} ({path}): title must be a string")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"page {i} ({path}): text must be a string")
        out[path.strip()] = {"path": path.strip(), "title": (title or path).strip(),
                             "text": (text or "")[:MAX_DOC_TEXT]}
    return list(out.values())


def index_doc_pages(graph: "Graph", entity_ref: str, pages: list[dict]) -> int:
    """Replace the searchable docs pages of one entity (TechDocs builds call this after each build).

    Each page is `{"path", "title", "text"}` (plain text, not HTML). Raises LookupError when the entity is not
    in the catalog and ValueError for malformed pages; in both cases the stored pages stay as they were.
    Returns the number of pages stored.
    """
    ref = str(parse_ref(entity_ref))
    rows = _clean_pages(ref, pages)

    def work(tx) -> int:
        if tx.run("MATCH (e:Entity {ref: $ref}) WHERE NOT e:Unresolved RETURN count(e) AS c",
                  ref=ref).single()["c"] == 0:
            raise LookupError(f"{ref} is not in the catalog")
        tx.run("MATCH (p:DocPage {entity_ref: $ref}) DETACH DELETE p", ref=ref).consume()
        tx.run(
            "MATCH (e:Entity {ref: $ref}) UNWIND $rows AS row "
            "CREATE (p:DocPage {entity_ref: $ref, path: row.path, title: row.title, text: row.text}) "
            "CREATE (p)-[:DOCUMENTS]->(e)",
            ref=ref, rows=rows,
        ).consume()
        return len(rows)

    return graph.write_tx(work)


def remove_doc_pages(graph: "Graph", entity_ref: str) -> None:
    """Forget every docs page of an entity (its docs were removed)."""
    graph.write("MATCH (p:DocPage {entity_ref: $ref}) DETACH DELETE p", ref=str(parse_ref(entity_ref)))


def doc_pages(graph: "Graph", entity_ref: str) -> list[dict]:
    """The stored docs pages of an entity, by path (what search sees)."""
    return [dict(r) for r in graph.read(
        "MATCH (p:DocPage {entity_ref: $ref}) RETURN p.path AS path, p.title AS title, p.text AS text "
        "ORDER BY p.path", ref=str(parse_ref(entity_ref)))]


# ------------------------------------------------------------------ documents for external engines

class SearchUnavailable(RuntimeError):
    """The configured search engine cannot be reached (the API answers 503, like a Neo4j outage)."""


_DOC_FIELDS = ("n.ref AS ref, n.kind AS kind, n.namespace AS namespace, n.name AS name, n.title AS title, "
               "n.description AS description, n.type AS type, n.lifecycle AS lifecycle, n.owner AS owner, "
               "coalesce(n.tags, []) AS tags, coalesce(n.restricted, false) AS restricted, n.source AS source")


def entity_documents(graph: "Graph", *, source: str | None = None, run: str | None = None,
                     batch: int = 5000) -> "Iterable[list[dict]]":
    """Every catalog entity (no placeholders) as a flat search document, in ref order, `batch` at a time.

    `source` limits it to one location's entities, `run` to those written by that ingest run (what changed).
    """
    after = ""
    while True:
        rows = graph.read(
            "MATCH (n:Entity) WHERE n.ref > $after AND NOT n:Unresolved "
            "AND ($source IS NULL OR n.source = $source) AND ($run IS NULL OR n.run = $run) "
            f"RETURN {_DOC_FIELDS} ORDER BY n.ref LIMIT $batch",
            after=after, source=source, run=run, batch=batch,
        )
        if not rows:
            return
        yield [dict(r) for r in rows]
        after = rows[-1]["ref"]


def doc_page_documents(graph: "Graph", refs: Iterable[str] | None = None) -> list[dict]:
    """Docs pages with the fields of the entity they document (for filters and visibility), optionally only
    those of `refs`. Pages of an entity that left the catalog (a placeholder, readable by all) are left out."""
    rows = graph.read(
        "MATCH (p:DocPage)-[:DOCUMENTS]->(n:Entity) WHERE ($refs IS NULL OR n.ref IN $refs) AND NOT n:Unresolved "
        f"RETURN {_DOC_FIELDS}, p.path AS page_path, p.title AS page_title, p.text AS text ORDER BY n.ref, p.path",
        refs=None if refs is None else list(refs),
    )
    return [dict(r) for r in rows]


def source_refs(graph: "Graph", source: str) -> set[str]:
    """The refs a location owns now (to find what an external index must forget)."""
    return {r["ref"] for r in graph.read(
        "MATCH (n:Entity {source: $source}) WHERE NOT n:Unresolved RETURN n.ref AS ref", source=source)}


def mark_index_stale(graph: "Graph", index: str, stale: bool = True) -> None:
    """Remember that an external index missed an update (its cluster was down during an ingest), so the next
    update rebuilds it instead of applying only its own run."""
    graph.write("MERGE (m:CatalogMeta {key: $key}) SET m.stale = $stale, m.updated_at = timestamp()",
                key=f"search-index:{index}", stale=stale)


def index_is_stale(graph: "Graph", index: str) -> bool:
    rows = graph.read("MATCH (m:CatalogMeta {key: $key}) RETURN m.stale AS stale", key=f"search-index:{index}")
    return bool(rows and rows[0]["stale"])
