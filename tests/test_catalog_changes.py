"""The change records a catalog version carries (graph.write.bump_catalog_version) and how a process reads
them (graph.versioned.changes_between): what lets a kept walk survive an ingest that did not touch it.

What would go wrong: two processes bumping at once with the same sequence number (a change hidden from the
chain, a stale walk served), a chain with a hole or an "unknown" record read as "nothing changed".
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from graph import versioned, write


def _bump(graph, refs: list[str], *, record: bool = True) -> str:
    write._touch(graph, refs)
    return write.bump_catalog_version(graph, record_changes=record)


def test_concurrent_bumps_get_distinct_consecutive_sequence_numbers(graph):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: write.bump_catalog_version(graph), range(24)))
    seqs = [r["s"] for r in graph.read("MATCH (c:CatalogChange) RETURN c.seq AS s ORDER BY s")]
    assert seqs == list(range(seqs[0], seqs[0] + 24))


def test_the_refs_changed_between_two_versions_are_the_union_of_the_records_in_between(graph):
    v1 = _bump(graph, ["component:default/a"])
    v2 = _bump(graph, ["component:default/b"])
    v3 = _bump(graph, ["component:default/c", "component:default/d"])
    assert versioned.changes_between(graph, v1, v3) == {"component:default/b", "component:default/c",
                                                        "component:default/d"}
    assert versioned.changes_between(graph, v2, v3) == {"component:default/c", "component:default/d"}
    assert versioned.changes_between(graph, v3, v1) is None   # not forwards
    assert versioned.changes_between(graph, "a-version-without-a-record", v3) is None


def test_an_unknown_record_or_a_hole_in_the_chain_means_unknown(graph):
    v1 = _bump(graph, ["component:default/a"])
    v2 = _bump(graph, ["component:default/b"], record=False)   # e.g. a failed run
    v3 = _bump(graph, ["component:default/c"])
    assert versioned.changes_between(graph, v1, v2) is None
    assert versioned.changes_between(graph, v1, v3) is None
    assert versioned.changes_between(graph, v2, v3) == {"component:default/c"}
    v4 = _bump(graph, ["component:default/d"])
    graph.write("MATCH (c:CatalogChange {version: $v}) DELETE c", v=v4)   # pruned, or lost
    v5 = _bump(graph, ["component:default/e"])
    versioned.clear()
    assert versioned.changes_between(graph, v3, v5) is None


def test_more_changed_refs_than_a_record_holds_means_unknown(graph, monkeypatch):
    monkeypatch.setattr(write, "CHANGE_REFS_MAX", 3)
    v1 = _bump(graph, [])
    v2 = _bump(graph, [f"component:default/c{i}" for i in range(4)])
    assert versioned.changes_between(graph, v1, v2) is None
    v3 = _bump(graph, ["component:default/x"])   # the next version starts afresh
    assert versioned.changes_between(graph, v2, v3) == {"component:default/x"}
    monkeypatch.setattr(versioned, "MAX_CHANGED", 2)   # and so does a process's answer over many versions
    v4 = _bump(graph, ["component:default/y", "component:default/z"])
    assert versioned.changes_between(graph, v3, v4) == {"component:default/y", "component:default/z"}
    assert versioned.changes_between(graph, v2, v4) is None


def test_only_the_last_records_are_kept(graph, monkeypatch):
    monkeypatch.setattr(write, "CHANGES_KEPT", 5)
    first = _bump(graph, ["component:default/a"])
    for _ in range(6):
        _bump(graph, [])
    assert graph.read("MATCH (c:CatalogChange) RETURN count(c) AS n")[0]["n"] == 5
    assert versioned.changes_between(graph, first, versioned.catalog_version(graph)) is None
