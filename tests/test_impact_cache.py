"""The blast radius's walk is kept per process and catalog version (graph.impact.walked), and the reader's
visibility is applied to it on every request.

What a reader would notice if it went wrong: an entity an admin's request walked served to a viewer who may not
see it (in the list, the counts or a path), a dependant ingested by another process missing from the Impact tab,
or every page of a cursor paying the whole walk again. Each visibility test asks as the privileged reader
first, so the walk is in the cache when the less privileged one asks.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings
from graph import impact as impact_module
from graph import versioned
from graph.impact import HIDDEN_REF, blast_radius
from graph.visibility import EVERYTHING, Visibility
from ingest.sync import ingest
from servers.neo4j import env_for
from tests.support.cli import trellis

SHOP = "component:default/shop"
LEDGER = "component:default/ledger"


def _component(name: str, owner: str, depends: str = "", restricted: bool = False) -> str:
    annotations = ', annotations: {trellis.io/restricted: "true"}' if restricted else ""
    deps = f", dependsOn: [{depends}]" if depends else ""
    return (f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}{annotations}}}\n"
            f"spec: {{type: service, lifecycle: production, owner: group:default/{owner}{deps}}}\n")


def _group(name: str) -> str:
    return f"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: {name}}}\nspec: {{type: team, children: []}}\n"


# shop <- ledger (restricted to payments) <- invoices <- reports; shop <- web-ui
CATALOG = "---\n".join([
    _group("payments"), _group("web"),
    _component("shop", "web"),
    _component("ledger", "payments", SHOP, restricted=True),
    _component("invoices", "web", LEDGER),
    _component("reports", "web", "component:default/invoices"),
    _component("web-ui", "web", SHOP),
])

VIEWER = Visibility(claims=frozenset({"group:default/web"}))
PAYMENTS = Visibility(claims=frozenset({"group:default/payments"}))


def _load(graph, tmp_path: Path, text: str = CATALOG) -> None:
    (tmp_path / "catalog-info.yaml").write_text(text)
    result = ingest(graph, str(tmp_path / "catalog-info.yaml"))
    assert result.ok and not result.rejected, result.as_json()
    assert versioned.catalog_version(graph) is not None   # the cached path is the one under test


@pytest.fixture
def walks(monkeypatch) -> list[str]:
    """The roots of the walks that reached the database."""
    seen: list[str] = []
    real = impact_module._walk

    def counting(graph, ref, *args, **kwargs):
        seen.append(ref)
        return real(graph, ref, *args, **kwargs)

    monkeypatch.setattr(impact_module, "_walk", counting)
    return seen


def _refs(page: dict) -> list[str]:
    return [item["ref"] for item in page["items"]]


def test_a_walk_read_for_an_admin_is_not_served_whole_to_a_viewer(graph, tmp_path, walks):
    _load(graph, tmp_path)
    admin = blast_radius(graph, SHOP, 10, EVERYTHING).page(50)
    assert LEDGER in _refs(admin) and admin["summary"]["hidden"] == 0

    viewer = blast_radius(graph, SHOP, 10, VIEWER).page(50)
    assert walks == [SHOP]   # the viewer's answer came from the admin's walk...
    assert LEDGER not in _refs(viewer)   # ...with the viewer's visibility applied to the list,
    assert viewer["summary"]["count"] == 3 and viewer["summary"]["hidden"] == 1   # the counts,
    assert [r["owner"] for r in viewer["summary"]["by_owner"]] == ["group:default/web"]
    reports = next(i for i in viewer["items"] if i["ref"] == "component:default/reports")
    assert reports["path"] == [SHOP, HIDDEN_REF, "component:default/invoices", "component:default/reports"]
    assert LEDGER not in str(viewer)   # and every path
    radius = blast_radius(graph, SHOP, 10, VIEWER)
    assert LEDGER not in b"".join(radius.ndjson()).decode() + "".join(radius.csv_chunks())

    owner = blast_radius(graph, SHOP, 10, PAYMENTS).page(50)
    assert LEDGER in _refs(owner) and owner["summary"]["hidden"] == 0
    assert walks == [SHOP]


def test_a_viewer_first_does_not_narrow_what_an_admin_sees_next(graph, tmp_path):
    _load(graph, tmp_path)
    assert blast_radius(graph, SHOP, 10, VIEWER).page(50)["summary"]["count"] == 3
    admin = blast_radius(graph, SHOP, 10, EVERYTHING).page(50)
    assert admin["summary"]["count"] == 4 and LEDGER in _refs(admin)


def test_cursor_pages_and_repeated_opens_cost_no_walk(graph, tmp_path, walks):
    _load(graph, tmp_path)
    first = blast_radius(graph, SHOP, 10, VIEWER).page(1)
    refs = _refs(first)
    cursor = first["pageInfo"]["nextCursor"]
    while cursor:
        page = blast_radius(graph, SHOP, 10, VIEWER).page(1, cursor)
        refs += _refs(page)
        cursor = page["pageInfo"]["nextCursor"]
    assert refs == ["component:default/web-ui", "component:default/invoices", "component:default/reports"]
    assert walks == [SHOP]
    blast_radius(graph, SHOP, 3, VIEWER)   # another depth is another walk
    blast_radius(graph, SHOP, 10, VIEWER, walk="dependencies")
    assert walks == [SHOP, SHOP, SHOP]


def test_an_ingest_in_this_process_is_seen_at_once(graph, tmp_path):
    _load(graph, tmp_path)
    assert blast_radius(graph, SHOP, 10, EVERYTHING).summary()["count"] == 4
    _load(graph, tmp_path, CATALOG + "---\n" + _component("checkout", "web", SHOP))
    assert "component:default/checkout" in _refs(blast_radius(graph, SHOP, 10, EVERYTHING).page(50))


def test_a_dependant_ingested_by_another_process_shows_within_a_second(graph, neo4j_uri, tmp_path):
    _load(graph, tmp_path)
    assert blast_radius(graph, SHOP, 10, VIEWER).summary()["count"] == 3
    (tmp_path / "catalog-info.yaml").write_text(CATALOG + "---\n" + _component("checkout", "web", SHOP))
    done = trellis("ingest", str(tmp_path / "catalog-info.yaml"), env=env_for(neo4j_uri), timeout=300)
    assert done.returncode == 0, done.stderr
    time.sleep(1.0)   # the promise: within a second, whatever the poll interval
    page = blast_radius(graph, SHOP, 10, VIEWER).page(50)
    assert "component:default/checkout" in _refs(page) and page["summary"]["count"] == 4


def test_the_cache_is_bounded_by_walked_entities(graph, tmp_path, walks, monkeypatch):
    _load(graph, tmp_path)
    monkeypatch.setenv(impact_module.WALK_CACHE_ENV, "3")   # the 4-entity radius of shop does not fit
    blast_radius(graph, SHOP, 10, VIEWER)
    blast_radius(graph, SHOP, 10, VIEWER)
    assert walks == [SHOP, SHOP]
    ledger = blast_radius(graph, LEDGER, 10, PAYMENTS)   # 2 entities (+1 for the entry): kept
    blast_radius(graph, LEDGER, 10, PAYMENTS)
    assert walks == [SHOP, SHOP, LEDGER] and ledger.summary()["count"] == 2
    assert versioned.weight(impact_module._walks) <= 3
    blast_radius(graph, "component:default/invoices", 10, VIEWER)   # 1 + 1: evicts ledger's walk
    blast_radius(graph, LEDGER, 10, PAYMENTS)
    assert walks[-2:] == ["component:default/invoices", LEDGER]
    assert versioned.weight(impact_module._walks) <= 3


def test_a_cache_size_of_zero_switches_it_off_and_a_typo_is_refused(graph, tmp_path, walks, monkeypatch):
    _load(graph, tmp_path)
    monkeypatch.setenv(impact_module.WALK_CACHE_ENV, "0")
    blast_radius(graph, SHOP, 10, VIEWER)
    blast_radius(graph, SHOP, 10, VIEWER)
    assert walks == [SHOP, SHOP]
    monkeypatch.setenv(impact_module.WALK_CACHE_ENV, "lots")
    with pytest.raises(ValueError, match=impact_module.WALK_CACHE_ENV):
        blast_radius(graph, SHOP, 10, VIEWER)


def test_readers_asking_at_once_after_an_ingest_share_one_walk(graph, tmp_path, monkeypatch):
    _load(graph, tmp_path)
    seen: list[str] = []
    real = impact_module._walk

    def slow(graph_, ref, *args, **kwargs):   # a walk long enough for the others to arrive meanwhile
        seen.append(ref)
        time.sleep(0.5)
        return real(graph_, ref, *args, **kwargs)

    monkeypatch.setattr(impact_module, "_walk", slow)
    readers = [EVERYTHING, VIEWER, PAYMENTS, VIEWER, EVERYTHING, VIEWER]
    with ThreadPoolExecutor(len(readers)) as pool:
        counts = list(pool.map(lambda v: blast_radius(graph, SHOP, 10, v).summary()["count"], readers))
    assert seen == [SHOP]
    assert counts == [4, 3, 4, 3, 4, 3]   # one walk, each reader's own visibility


def test_a_typo_in_the_cache_size_stops_the_portal_at_start(monkeypatch):
    monkeypatch.setenv(impact_module.WALK_CACHE_ENV, "10k")
    with pytest.raises(ConfigError, match=impact_module.WALK_CACHE_ENV):
        load_settings({"TRELLIS_ENV": "development"}, file_data={})


# ------------------------------------------------------------------ walks an ingest did not touch are kept

OUTSIDE = "component:default/billing"


def _with(*extra: str, base: str = CATALOG) -> str:
    return "---\n".join([base, *extra])


def test_an_ingest_that_touches_nothing_in_the_radius_keeps_the_walk(graph, tmp_path, walks):
    _load(graph, tmp_path, _with(_component("billing", "payments")))
    before = blast_radius(graph, SHOP, 10, VIEWER).page(50)
    version = versioned.catalog_version(graph)
    _load(graph, tmp_path, _with(_component("billing", "web")))   # billing changes owner: outside shop's radius
    assert versioned.catalog_version(graph) != version
    assert blast_radius(graph, SHOP, 10, VIEWER).page(50) == before
    assert walks == [SHOP]


def test_an_entity_changed_inside_the_radius_is_walked_again(graph, tmp_path, walks):
    _load(graph, tmp_path, _with(_component("billing", "payments")))
    assert blast_radius(graph, SHOP, 10, VIEWER).summary()["count"] == 3
    # reports, at the far end, moves to payments and is restricted: the viewer (web) may no longer see it
    changed = CATALOG.replace(_component("reports", "web", "component:default/invoices"),
                              _component("reports", "payments", "component:default/invoices", restricted=True))
    assert changed != CATALOG
    _load(graph, tmp_path, _with(_component("billing", "payments"), base=changed))
    summary = blast_radius(graph, SHOP, 10, VIEWER).summary()
    assert (summary["count"], summary["hidden"]) == (2, 2)
    assert walks == [SHOP, SHOP]


def test_a_relationship_from_outside_into_the_radius_is_walked_again(graph, tmp_path, walks):
    _load(graph, tmp_path, _with(_component("billing", "payments")))
    assert OUTSIDE not in _refs(blast_radius(graph, SHOP, 10, EVERYTHING).page(50))
    # billing, outside the radius, now depends on reports, at its far end
    _load(graph, tmp_path, _with(_component("billing", "payments", "component:default/reports")))
    page = blast_radius(graph, SHOP, 10, EVERYTHING).page(50)
    assert OUTSIDE in _refs(page)
    assert walks == [SHOP, SHOP]


def test_an_entity_removed_from_the_radius_is_walked_again(graph, tmp_path, walks):
    _load(graph, tmp_path)
    assert "component:default/web-ui" in _refs(blast_radius(graph, SHOP, 10, EVERYTHING).page(50))
    _load(graph, tmp_path, CATALOG.replace("---\n" + _component("web-ui", "web", SHOP), ""))
    assert "component:default/web-ui" not in _refs(blast_radius(graph, SHOP, 10, EVERYTHING).page(50))
    assert walks == [SHOP, SHOP]


def test_the_level_probed_past_the_depth_counts_as_part_of_the_walk(graph, tmp_path, walks):
    _load(graph, tmp_path)
    # depth 2 from shop: ledger, web-ui, invoices; reports lies just beyond, so the answer is cut off
    assert blast_radius(graph, SHOP, 2, EVERYTHING).cut_off is True
    _load(graph, tmp_path, CATALOG.replace("---\n" + _component("reports", "web", "component:default/invoices"),
                                           ""))
    assert blast_radius(graph, SHOP, 2, EVERYTHING).cut_off is False
    assert walks == [SHOP, SHOP]


def test_a_failed_or_unrecorded_write_retires_every_walk(graph, tmp_path, walks):
    from graph import write

    _load(graph, tmp_path)
    blast_radius(graph, SHOP, 10, VIEWER)
    write.bump_catalog_version(graph)   # a write whose changes were not recorded (e.g. a run that failed)
    blast_radius(graph, SHOP, 10, VIEWER)
    assert walks == [SHOP, SHOP]


def test_another_process_ingest_outside_the_radius_keeps_the_walk_inside_it_does_not(graph, neo4j_uri, tmp_path,
                                                                                    walks):
    _load(graph, tmp_path, _with(_component("billing", "payments")))
    blast_radius(graph, SHOP, 10, VIEWER)

    def other_process(text: str) -> None:
        (tmp_path / "catalog-info.yaml").write_text(text)
        done = trellis("ingest", str(tmp_path / "catalog-info.yaml"), env=env_for(neo4j_uri), timeout=300)
        assert done.returncode == 0, done.stderr
        time.sleep(1.0)

    other_process(_with(_component("billing", "web")))
    assert blast_radius(graph, SHOP, 10, VIEWER).summary()["count"] == 3
    assert walks == [SHOP]
    other_process(_with(_component("billing", "web"), _component("checkout", "web", SHOP)))
    page = blast_radius(graph, SHOP, 10, VIEWER).page(50)
    assert "component:default/checkout" in _refs(page) and page["summary"]["count"] == 4
    assert walks == [SHOP, SHOP]
