"""The ingestion planner on plain values, no database: every rule that decides what a run writes, keeps,
removes and refuses (ingest.plan), and the order the executor writes a plan in (ingest.execute).

The same rules are exercised end to end through Neo4j in tests/test_ingest.py, tests/test_jobs_entities.py,
tests/attacks/test_kind_rules.py and tests/attacks/test_provider_escalation.py; here each one is pinned down
on its own, including the corners those tests reach only by chance.
"""
from __future__ import annotations

import copy
import json

import pytest

from graph.write import StoredEntity
from ingest import execute as executor
from ingest.kinds import OPERATOR, org_rules, registration_rules, source_rules
from ingest.plan import Batch, Candidate, Conflict, RemovalGuard, declare, plan
from ingest.transform import transform

SOURCE = "file:/repos/shop"
REPO = source_rules("github-acme")            # repository kinds, least trusted
ORG = org_rules("github-acme")                # Group and User, most trusted
PEOPLE = registration_rules(["Component", "API"])


def entity(kind: str = "Component", name: str = "web", **spec) -> dict:
    spec = {"type": "service", "lifecycle": "production", "owner": "team", **spec} if kind == "Component" else spec
    return {"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def group(name: str, **spec) -> dict:
    return entity("Group", name, type="team", children=[], **spec)


def candidate(doc: dict, file: str = "catalog-info.yaml", index: int = 1, rules=OPERATOR) -> Candidate:
    return Candidate(file, file, index, doc, rules)


def batch(*candidates: Candidate, **flags) -> Batch:
    return Batch(candidates=list(candidates), shown=lambda file: file or "", **flags)


def held(doc: dict, file: str = "catalog-info.yaml", source: str = SOURCE) -> StoredEntity:
    """What the graph stores for `doc` once `source` ingested it from `file` (same content hash)."""
    row = transform(copy.deepcopy(doc), file=file, origin=source).row
    return StoredEntity(row.ref, source, row.hash, file)


def stored_map(*entities: StoredEntity) -> dict[str, StoredEntity]:
    return {e.ref: e for e in entities}


def run(the_batch: Batch, stored=None, elsewhere=None, guard: RemovalGuard | None = None):
    return plan(declare(the_batch, SOURCE), stored or {}, elsewhere or {}, guard or RemovalGuard())


def refs(items) -> list[str]:
    return [item.row.ref for item in items]


# ------------------------------------------------------------------------- declare: transform and kind rules

def test_each_candidate_is_transformed_for_the_source_that_owns_the_run():
    result = run(batch(candidate(entity(name="Web"), file="/repos/shop/catalog-info.yaml")))
    (item,) = result.to_add
    annotations = json.loads(item.row.descriptor)["metadata"]["annotations"]
    assert item.row.ref == "component:default/web"
    assert annotations["backstage.io/managed-by-origin-location"] == SOURCE
    assert annotations["backstage.io/managed-by-location"] == "file:/repos/shop/catalog-info.yaml"
    assert result.accepted == {"component:default/web": item}


def test_a_kind_the_rules_refuse_is_rejected_naming_the_rule():
    result = run(batch(candidate(entity(name="svc")), candidate(group("admins"), index=2)))
    assert refs(result.to_add) == ["component:default/svc", "group:default/admins"]   # the operator: any kind

    refused = run(batch(candidate(entity(name="svc"), rules=REPO), candidate(group("admins"), index=2, rules=REPO)))
    assert refs(refused.to_add) == ["component:default/svc"]
    (rejection,) = refused.rejected
    assert (rejection.file, rejection.document, rejection.ref, rejection.field) == \
        ("catalog-info.yaml", 2, "group:default/admins", "kind")
    assert rejection.reason == ("the kind rules of source github-acme (repository files) do not allow kind Group "
                                "(allowed: API, Component, Domain, Location, Resource, System)")


def test_the_catalog_rules_for_people_refuse_a_template():
    template = {"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
                "metadata": {"name": "exfiltrate"}, "spec": {"type": "service", "parameters": [], "steps": []}}
    result = run(batch(candidate(template, rules=PEOPLE), candidate(entity(), index=2, rules=PEOPLE)))
    assert [(r.ref, r.field) for r in result.rejected] == [("template:default/exfiltrate", "kind")]
    assert "catalog rules" in result.rejected[0].reason and "(allowed: API, Component)" in result.rejected[0].reason
    assert refs(result.to_add) == ["component:default/web"]


def test_a_refused_kind_keeps_what_a_shared_location_stored_under_that_ref():
    """A location the CLI and people's refreshes share must not lose the operator's groups."""
    admins = group("admins")
    stored = stored_map(held(admins))
    result = run(batch(candidate(admins, rules=PEOPLE)), stored)
    assert result.to_remove == [] and [r.field for r in result.rejected] == ["kind"]


def test_a_refused_kind_is_removed_from_a_providers_own_source():
    """A Group a repository added before kind rules existed goes with the provider's next run."""
    skunkworks = group("skunkworks", members=["mallory"])
    stored = stored_map(held(skunkworks, file="github:acme/sandbox/catalog-info.yaml"))
    result = run(batch(candidate(skunkworks, file="github:acme/sandbox/catalog-info.yaml", rules=REPO),
                       keep_refused=False), stored)
    assert result.to_remove == ["group:default/skunkworks"]
    assert [r.field for r in result.rejected] == ["kind"]


def test_a_document_with_a_problem_keeps_its_stored_version_whatever_the_source():
    good = entity(name="keep")
    bad = entity(name="keep", dependsOn=["db"])              # not a ref: no kind to default to
    for keep_refused in (True, False):
        result = run(batch(candidate(bad), keep_refused=keep_refused), stored_map(held(good)))
        assert result.to_remove == [] and result.to_write == []
        assert [(r.ref, r.field, r.document) for r in result.rejected] == [
            ("component:default/keep", "spec.dependsOn[0]", 1)]


def test_every_problem_of_a_document_is_reported_and_the_refused_kind_last():
    odd = entity("Group", "odd", type="team", children=[], weight=float("inf"))
    result = run(batch(candidate(odd, rules=REPO), keep_refused=False), stored_map(held(odd)))
    assert [r.field for r in result.rejected] == ["spec.weight", "kind"]
    assert "not a finite number" in result.rejected[0].reason
    assert result.to_remove == ["group:default/odd"]          # refused: a provider's own source drops it


def test_refs_rejected_while_reading_are_protected():
    stored = stored_map(held(entity(name="broken")), held(entity(name="gone")))
    result = run(batch(protected={"component:default/broken"}), stored)
    assert result.to_remove == ["component:default/gone"]


# ------------------------------------------------------------------------- declare: refs declared twice

def test_a_ref_declared_twice_in_one_run_goes_to_the_first_and_names_it():
    result = run(batch(candidate(entity(name="dup", owner="one"), file="a.yaml"),
                       candidate(entity(name="DUP", owner="two"), file="b.yaml", index=3)))
    (item,) = result.to_add
    assert item.row.owner == "group:default/one"
    assert [c.as_dict() for c in result.conflicts] == [{
        "ref": "component:default/dup", "file": "b.yaml", "document": 3,
        "reason": "component:default/dup is already declared in a.yaml of this location"}]
    assert result.conflicts[0].outranked is False and result.conflicts[0].elsewhere is False


def test_more_trusted_rules_win_a_ref_whatever_the_order():
    """Repository files come before an org provider's teams in a run; the team must still hold its ref."""
    fake = candidate(group("payments-team", members=["mallory"]), file="github:acme/aaa/catalog-info.yaml",
                     rules=source_rules("github-acme", None))   # even a configured source that allows Groups
    real = candidate(group("payments-team", members=["alice"]), file="github:acme/teams/payments-team", rules=ORG)
    for order in ([fake, real], [real, fake]):
        result = run(batch(*order))
        (item,) = result.to_add
        assert item.row.file == "github:acme/teams/payments-team"
        (conflict,) = result.conflicts
        assert conflict.file == "github:acme/aaa/catalog-info.yaml" and conflict.outranked
        assert conflict.holder == "github:acme/teams/payments-team"


def test_within_one_rank_the_batch_order_decides_not_the_planner():
    first = candidate(entity(name="payments"), file="github:acme/a-real/catalog-info.yaml", rules=REPO)
    second = candidate(entity(name="payments"), file="github:acme/z-attacker/catalog-info.yaml", rules=REPO)
    assert run(batch(first, second)).to_add[0].row.file == first.file
    assert run(batch(second, first)).to_add[0].row.file == second.file   # callers sort by origin (ingest.sync)


def test_a_rejected_document_does_not_take_the_ref_from_a_later_valid_one():
    result = run(batch(candidate(entity(name="web", dependsOn=["db"])), candidate(entity(name="web"), index=2)))
    assert refs(result.to_add) == ["component:default/web"] and result.conflicts == []
    assert [r.document for r in result.rejected] == [1]


def test_a_ref_of_a_file_reused_unchanged_stays_with_that_file():
    stored = stored_map(held(entity(name="web"), file="/repos/shop/a.yaml"))
    result = run(batch(candidate(entity(name="web"), file="b.yaml"), kept={"component:default/web": "a.yaml"}),
                 stored)
    assert result.to_write == [] and result.unchanged == ["component:default/web"] and result.to_remove == []
    assert [c.reason for c in result.conflicts] == ["component:default/web is already declared in a.yaml of this "
                                                    "location"]


# ------------------------------------------------------------------------- plan: compare with what is stored

def test_unchanged_updated_and_added_are_told_apart_by_content_hash():
    same, changed = entity(name="same"), entity(name="changed")
    stored = stored_map(held(same), held(entity(name="changed", owner="before")))
    result = run(batch(candidate(same), candidate(changed, index=2), candidate(entity(name="new"), index=3)),
                 stored)
    assert result.unchanged == ["component:default/same"]
    assert refs(result.to_update) == ["component:default/changed"]
    assert refs(result.to_add) == ["component:default/new"]
    assert refs(result.to_write) == ["component:default/new", "component:default/changed"]
    assert set(result.accepted) == {"component:default/same", "component:default/changed", "component:default/new"}


def test_a_change_of_file_alone_is_an_update():
    """The stored row carries its file (and managed-by-location): a document that moved is rewritten."""
    doc = entity(name="moved")
    result = run(batch(candidate(doc, file="new.yaml")), stored_map(held(doc, file="old.yaml")))
    assert refs(result.to_update) == ["component:default/moved"] and result.to_remove == []


def test_files_reused_without_reading_count_as_unchanged_and_are_not_removed():
    stored = stored_map(held(entity(name="a"), file="a.yaml"), held(entity(name="b"), file="b.yaml"))
    result = run(batch(candidate(entity(name="b"), file="b.yaml"), kept={"component:default/a": "a.yaml"}), stored)
    assert result.unchanged == ["component:default/a", "component:default/b"]
    assert result.to_write == [] and result.to_remove == []


def test_a_ref_another_location_holds_stays_with_it():
    theirs = held(entity(name="shared", owner="alpha"), source="file:/repos/other")
    result = run(batch(candidate(entity(name="Shared", owner="beta"), file="b.yaml"),
                       candidate(entity(name="mine"), index=2)), elsewhere=stored_map(theirs))
    assert refs(result.to_add) == ["component:default/mine"]
    assert "component:default/shared" not in result.accepted
    assert [c.as_dict() for c in result.conflicts] == [{
        "ref": "component:default/shared", "file": "b.yaml", "document": None,
        "reason": "component:default/shared is already owned by location file:/repos/other; the first location "
                  "keeps it"}]
    assert result.conflicts[0].elsewhere


def test_a_placeholder_is_filled_and_only_refs_without_any_node_are_new_nodes():
    placeholder = StoredEntity("component:default/back", None, None, None)
    result = run(batch(candidate(entity(name="back")), candidate(entity(name="front"), index=2)),
                 elsewhere=stored_map(placeholder))
    assert refs(result.to_add) == ["component:default/back", "component:default/front"]
    assert result.new_nodes == {"component:default/front"}
    assert result.conflicts == []


def test_conflicts_inside_the_run_come_before_those_with_other_locations():
    theirs = held(entity(name="taken"), source="file:/repos/other")
    result = run(batch(candidate(entity(name="taken")), candidate(entity(name="dup"), index=2),
                       candidate(entity(name="dup"), index=3)), elsewhere=stored_map(theirs))
    assert [(c.ref, c.elsewhere) for c in result.conflicts] == [("component:default/dup", False),
                                                                ("component:default/taken", True)]


# ------------------------------------------------------------------------- plan: removal

def test_what_the_source_no_longer_declares_is_removed():
    stored = stored_map(held(entity(name="a")), held(entity(name="b")), held(entity(name="c")))
    result = run(batch(candidate(entity(name="a")), candidate(entity(name="c"), index=2)), stored)
    assert result.to_remove == ["component:default/b"]


def test_entities_of_a_file_that_could_not_be_read_are_kept():
    stored = stored_map(held(entity(name="held"), file="/repos/shop/catalog-info.yaml"),
                        held(entity(name="other"), file="/repos/shop/other.yaml"))
    shown = {"/repos/shop/catalog-info.yaml": "catalog-info.yaml", "/repos/shop/other.yaml": "other.yaml"}
    the_batch = Batch(candidates=[], shown=lambda file: shown.get(file, file), failed={"catalog-info.yaml"})
    assert run(the_batch, stored).to_remove == ["component:default/other"]


def test_an_unavailable_origin_of_a_provider_removes_nothing_it_held():
    stored = stored_map(held(entity(name="svc"), file="github:acme/down/catalog-info.yaml"))
    result = run(batch(failed={"github:acme/down/catalog-info.yaml"}, keep_refused=False), stored)
    assert result.to_remove == []


def test_a_stored_entity_without_a_file_is_matched_as_an_empty_name():
    stored = {"component:default/x": StoredEntity("component:default/x", SOURCE, "h", None)}
    assert run(batch(failed={""}), stored).to_remove == []
    assert run(batch(), stored).to_remove == ["component:default/x"]


def test_a_truncated_read_removes_nothing():
    stored = stored_map(held(entity(name="seen")), held(entity(name="past-the-limit")))
    result = run(batch(candidate(entity(name="seen")), truncated=True), stored)
    assert result.to_remove == [] and result.unchanged == ["component:default/seen"]


def test_a_ref_lost_to_another_location_is_not_mistaken_for_removal():
    """Only what this source stored can be removed; a ref it never held is not."""
    theirs = held(entity(name="taken"), source="file:/repos/other")
    result = run(batch(candidate(entity(name="taken"))), elsewhere=stored_map(theirs))
    assert result.to_remove == [] and result.to_write == []


# ------------------------------------------------------------------------- the removal guard

def many(n: int) -> dict[str, StoredEntity]:
    return stored_map(*(held(entity(name=f"s{i}")) for i in range(n)))


def test_the_guard_refuses_to_remove_most_of_a_location_in_one_run():
    result = run(batch(candidate(entity(name="s0"))), many(20))
    assert len(result.to_remove) == 19
    assert result.removal_refused == ("refusing to remove 19 of 20 entities (95%) from this location in one run "
                                      "(limit 50%); re-run with --force if that is intended")


def test_the_guard_lets_forced_small_and_half_removals_through():
    assert run(batch(candidate(entity(name="s0"))), many(20), guard=RemovalGuard(force=True)).removal_refused is None
    assert run(batch(candidate(entity(name="s0"))), many(9)).removal_refused is None          # fewer than 10
    half = run(batch(*(candidate(entity(name=f"s{i}"), index=i) for i in range(10))), many(20))
    assert len(half.to_remove) == 10 and half.removal_refused is None                          # 50% is the limit
    assert run(batch(), {}).removal_refused is None


@pytest.mark.parametrize(("removing", "owned", "refused"), [
    (10, 19, True), (10, 20, False), (9, 9, False), (3, 4, False), (0, 0, False),
])
def test_the_default_guard_refuses_more_than_half_from_ten_removals_up(removing, owned, refused):
    assert (RemovalGuard().refusal(removing, owned) is not None) is refused


def test_a_sources_guard_settings_move_its_limits():
    assert RemovalGuard(max_share=0.9, min_count=2).refusal(3, 4) is None
    assert RemovalGuard(max_share=0.5, min_count=2).refusal(3, 4) is not None


def test_a_conflict_reads_as_before():
    assert Conflict("component:default/x", "b.yaml", 2, "a.yaml").reason == \
        "component:default/x is already declared in a.yaml of this location"


# ------------------------------------------------------------------------- the executor's order

class Recorder:
    """Stands in for graph.write: records each call, answers ensure_placeholders with every ref asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, name: str):
        def call(graph, *args, **kwargs):
            # sets are copied: the executor keeps adding to its `fresh` after a call, as before
            self.calls.append((name, (args, {k: set(v) if isinstance(v, set) else v for k, v in kwargs.items()})))
            return sorted(args[0]) if name == "ensure_placeholders" else None
        return call


def test_the_executor_writes_entities_then_relations_and_removes_last(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(executor, "write", recorder)
    stored = stored_map(held(entity(name="old")), held(entity(name="front", owner="before")))
    the_plan = run(batch(candidate(entity(name="front", dependsOn=["component:back"])),
                         candidate(entity(name="back"), index=2)), stored)
    stages: list[str] = []
    executor.execute(object(), the_plan, source=SOURCE, target="/repos/shop", run="r1", summary={"added": 1},
                     progress=lambda stage, done, total: stages.append(stage))

    assert [name for name, _ in recorder.calls] == ["upsert_entities", "ensure_placeholders", "create_relations",
                                                   "remove_entities", "record_source"]
    (rows,), upsert = recorder.calls[0][1]
    assert [r.ref for r in rows] == ["component:default/back", "component:default/front"]
    assert upsert["fresh"] == {"component:default/back"} and upsert["replace_relations"] == ["component:default/front"]
    (endpoints,), _ = recorder.calls[1][1]
    assert endpoints == {"group:default/team"}            # relation ends this run does not declare
    _, relate = recorder.calls[2][1]
    assert relate["fresh"] == {"component:default/back", "group:default/team"}
    assert recorder.calls[3][1][0] == (["component:default/old"],)
    assert stages == ["writing entities", "writing relations", "removing", "removing"]


def test_planning_changes_none_of_its_inputs():
    """Pure: the same declaration planned twice gives the same plan (a dry run, then the real one)."""
    theirs = held(entity(name="taken"), source="file:/repos/other")
    stored = stored_map(held(entity(name="gone")))
    declared = declare(batch(candidate(entity(name="taken")), candidate(entity(name="new"), index=2)), SOURCE)
    before = (dict(declared.accepted), list(declared.conflicts), set(declared.protected), dict(stored))
    first = plan(declared, stored, stored_map(theirs), RemovalGuard())
    second = plan(declared, stored, stored_map(theirs), RemovalGuard())
    assert (dict(declared.accepted), list(declared.conflicts), set(declared.protected), dict(stored)) == before
    assert (refs(first.to_add), first.to_remove, first.conflicts) == (refs(second.to_add), second.to_remove,
                                                                        second.conflicts)
