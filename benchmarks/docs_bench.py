"""TechDocs benchmark: build time of a 200-page site, and the time from a docs change to the new page being
served by the portal and found by search.

    .venv/bin/python -m benchmarks.docs_bench [--pages 200] [--repeat 3]

Uses NEO4J_URI when set (only one benchmark component is added to it), otherwise a throwaway local server.
The site is generated (nested nav, headings, tables, code, admonitions), committed to a git repository,
ingested, and built with MkDocs + techdocs-core in the builder's child process, into local storage.
Prints the figures and writes benchmarks/out/docs.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from docs_builder.build import build_entity_docs
from docs_builder.storage import LocalStorage
from graph.driver import Settings, connect
from ingest.sync import ingest

OUT = Path(__file__).resolve().parent / "out"
REF = "component:default/docs-bench"


def page_text(i: int) -> str:
    return (
        f"# Page {i}: the {['ledger', 'gateway', 'refund', 'capture', 'router'][i % 5]} chapter\n\n"
        f"This page describes part {i} of the benchmark service. " * 8 + "\n\n"
        "## Configuration\n\n| Setting | Default | Meaning |\n|---|---|---|\n"
        + "".join(f"| `opt_{i}_{k}` | {k} | what option {k} changes |\n" for k in range(6))
        + "\n!!! note \"Remember\"\n    Restart the service after changing these.\n\n"
        "## Example\n\n```python\ndef handler(event):\n    return {'status': 200, 'page': %d}\n```\n\n" % i
        + "".join(f"- item {k} of the list on page {i}\n" for k in range(10))
        + f"\nSee [the next page](../section-{(i + 1) % 20:02d}/page-{i + 1:03d}.md).\n"
    )


def make_repo(root: Path, pages: int) -> Path:
    (root / "docs").mkdir(parents=True)
    nav: dict[str, list] = {}
    for i in range(pages):
        section = f"section-{i % 20:02d}"
        (root / "docs" / section).mkdir(exist_ok=True)
        (root / "docs" / section / f"page-{i:03d}.md").write_text(page_text(i))
        nav.setdefault(section, []).append({f"Page {i}": f"{section}/page-{i:03d}.md"})
    (root / "docs" / "index.md").write_text("# Benchmark docs\n\nThe home page.\n")
    nav_yaml = "".join(f"  - {s}:\n" + "".join(f"      - {next(iter(p))}: {next(iter(p.values()))}\n" for p in ps)
                       for s, ps in sorted(nav.items()))
    (root / "mkdocs.yml").write_text(f"site_name: Benchmark docs\nnav:\n  - Home: index.md\n{nav_yaml}"
                                     "plugins:\n  - techdocs-core\n")
    (root / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: docs-bench\n  annotations:\n"
        "    backstage.io/techdocs-ref: dir:.\nspec: {type: service, lifecycle: production, owner: bench-team}\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q",
                                                "-m", "docs"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_CACHE", tempfile.mkdtemp(prefix="trellis-dbench-cache-"))
    work = Path(tempfile.mkdtemp(prefix="trellis-dbench-"))
    home = None
    if os.environ.get("NEO4J_URI"):
        settings = Settings.from_env()
    else:
        from graph.server import start
        from servers.base import free_port

        home = work / "neo4j"
        settings = Settings(uri=start(home, bolt_port=free_port(), http_port=free_port(), heap="1g",
                                      pagecache="256m").uri)
    graph = connect(settings)
    try:
        repo = make_repo(work / "repo", args.pages)
        ingest(graph, str(repo))
        storage = LocalStorage(work / "sites")
        from app import create_app

        app = create_app({"NEO4J_URI": settings.uri, "TESTING": True, "TRELLIS_ENV": "development",
                          "TRELLIS_GUEST_ROLE": "admin"})
        app.extensions["trellis.docs_storage"] = storage
        client = app.test_client()

        builds = []
        for _ in range(args.repeat):
            outcome = build_entity_docs(graph, REF, storage, force=True, trigger="bench")
            assert outcome.status == "succeeded", outcome
            builds.append(outcome.seconds)
        pages_built = outcome.pages
        t0 = time.perf_counter()
        assert build_entity_docs(graph, REF, storage).status == "unchanged"
        unchanged_s = time.perf_counter() - t0

        from graph.search import SearchQuery, search

        page_file = repo / "docs" / "section-07" / "page-007.md"
        change = {"served": [], "searchable": [], "build": []}
        for n in range(args.repeat):
            word = f"zanzibarquux{n}"
            t0 = time.perf_counter()
            page_file.write_text(page_text(7) + f"\nFresh words: {word}.\n")
            outcome = build_entity_docs(graph, REF, storage, trigger="bench")
            assert outcome.status == "succeeded", outcome
            change["build"].append(outcome.seconds)
            body = client.get("/docs/default/component/docs-bench/section-07/page-007/").get_data(as_text=True)
            assert word in body
            change["served"].append(time.perf_counter() - t0)
            hits = search(graph, SearchQuery(text=word)).hits
            assert any(h.ref == REF and h.page for h in hits), [h.as_json() for h in hits]
            change["searchable"].append(time.perf_counter() - t0)
        site_bytes = sum(p.stat().st_size for p in (work / "sites").rglob("*") if p.is_file())
        t0 = time.perf_counter()
        for _ in range(50):
            client.get("/docs/default/component/docs-bench/section-07/page-007/")
        serve_ms = (time.perf_counter() - t0) / 50 * 1000
        app.extensions["trellis.graph"].close()
        graph.write("MATCH (e:Entity {ref: $ref})-[:HAS_DOCS]->(b:DocsBuild) DETACH DELETE b", ref=REF)
        graph.write("MATCH (p:DocPage {entity_ref: $ref}) DETACH DELETE p", ref=REF)
    finally:
        graph.close()
        if home is not None:
            from servers.neo4j import stop

            stop(home)
        shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    figures = {
        "pages": pages_built,
        "full_build_s": {"median": round(med(builds), 2), "min": round(min(builds), 2), "runs": len(builds)},
        "unchanged_check_s": round(unchanged_s, 3),
        "change_to_served_s": {"median": round(med(change["served"]), 2), "max": round(max(change["served"]), 2)},
        "change_to_searchable_s": {"median": round(med(change["searchable"]), 2),
                                   "max": round(max(change["searchable"]), 2)},
        "published_bytes": site_bytes,
        "serve_page_ms": round(serve_ms, 1),
        "cpus": os.cpu_count(),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "docs.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
