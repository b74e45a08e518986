"""Impact, dependencies and ownership on a hand-built catalog whose answers were worked out by hand.

The catalog (namespace default unless written):
  resource:db  <- svc-a (dependsOn)          svc-a providesApi api-a      svc-b consumesApi api-a
  svc-b <-> svc-c (dependsOn cycle)           svc-a dependencyOf svc-h (so svc-h dependsOn svc-a)
  svc-d dependsOn db, svc-d subcomponentOf svc-e (the parent breaks when its part does)
  chain c1 dependsOn db, c2 dependsOn c1, ... c12 dependsOn c11
  ops/mon  dependsOn "resource:db" -> resource:ops/db (its own namespace: NOT our db)
  ops/mon2 dependsOn resource:default/db
  resource:cache is in system sys-1 with svc-a: system membership must not propagate.
"""
import textwrap

import pytest

from graph.impact import EntityNotFound, dependencies, impact
from graph.ownership import ownership_report, report_csv
from ingest.sync import ingest

CATALOG = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: org}
spec: {type: root, children: [team-a, team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, parent: org, children: [team-a1]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a1}
spec: {type: team, parent: team-a, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, parent: org, children: [], members: [bob]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {memberOf: [team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: sys-1}
spec: {owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: sys-2}
spec: {owner: team-b}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: db}
spec: {type: database, owner: team-a, system: sys-1}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: cache}
spec: {type: cache, owner: team-a, system: sys-1}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-a}
spec:
  type: service
  lifecycle: production
  owner: team-a
  system: sys-1
  dependsOn: [resource:db]
  providesApis: [api-a]
  dependencyOf: [component:svc-h]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: api-a}
spec: {type: openapi, lifecycle: production, owner: team-a, system: sys-1, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-b}
spec: {type: service, lifecycle: production, owner: team-b, system: sys-2,
       consumesApis: [api-a], dependsOn: [component:svc-c]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-c}
spec: {type: service, lifecycle: production, owner: team-b, dependsOn: [component:svc-b]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-h}
spec: {type: service, lifecycle: production, owner: team-b}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-d}
spec: {type: service, lifecycle: production, owner: team-a1, subcomponentOf: svc-e, dependsOn: [resource:db]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-e}
spec: {type: service, lifecycle: production, owner: team-a1}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: mon, namespace: ops}
spec: {type: service, lifecycle: production, owner: group:default/team-b, dependsOn: [resource:db]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: mon2, namespace: ops}
spec: {type: service, lifecycle: production, owner: group:default/ghosts, dependsOn: [resource:default/db]}
"""


def chain(n: int) -> str:
    docs = []
    for i in range(1, n + 1):
        target = "resource:db" if i == 1 else f"component:c{i - 1}"
        docs.append(textwrap.dedent(f"""\
            apiVersion: backstage.io/v1alpha1
            kind: Component
            metadata: {{name: c{i}}}
            spec: {{type: library, lifecycle: experimental, owner: team-b, dependsOn: [{target}]}}
            """))
    return "---\n".join(docs)


@pytest.fixture(scope="module")
def catalog(graph_module, tmp_path_factory):
    root = tmp_path_factory.mktemp("handbuilt")
    (root / "catalog-info.yaml").write_text(CATALOG + "---\n" + chain(12))
    result = ingest(graph_module, str(root))
    assert result.rejected == [] and result.conflicts == []
    return graph_module


def refs_at(answer, key="impacted"):
    return {i["ref"]: i["distance"] for i in answer[key]}


def test_blast_radius_distances_cycle_and_cut_off(catalog):
    answer = impact(catalog, "resource:default/db", depth=10)
    expected = {
        "component:default/svc-a": 1, "component:default/svc-d": 1, "component:ops/mon2": 1,
        "component:default/c1": 1,
        "api:default/api-a": 2, "component:default/svc-h": 2, "component:default/svc-e": 2,
        "component:default/c2": 2,
        "component:default/svc-b": 3, "component:default/svc-c": 4,
    }
    expected.update({f"component:default/c{i}": i for i in range(3, 11)})
    assert refs_at(answer) == expected
    assert answer["cut_off"] is True             # c11 and c12 lie beyond depth 10
    assert answer["root"]["owner"] == "group:default/team-a"
    assert answer["root"]["system"] == "system:default/sys-1"


def test_impact_reports_one_shortest_path_with_relations(catalog):
    answer = impact(catalog, "resource:default/db")
    svc_b = next(i for i in answer["impacted"] if i["ref"] == "component:default/svc-b")
    assert svc_b["path"] == ["resource:default/db", "component:default/svc-a", "api:default/api-a",
                             "component:default/svc-b"]
    assert [(h["from"], h["relation"], h["to"]) for h in svc_b["hops"]] == [
        ("component:default/svc-a", "dependsOn", "resource:default/db"),
        ("component:default/svc-a", "providesApi", "api:default/api-a"),
        ("component:default/svc-b", "consumesApi", "api:default/api-a"),
    ]
    assert svc_b["owner"] == "group:default/team-b" and svc_b["system"] == "system:default/sys-2"


def test_impact_rollups_by_owner_and_system(catalog):
    answer = impact(catalog, "resource:default/db", depth=10)
    by_owner = {g["owner"]: g["count"] for g in answer["by_owner"]}
    # team-b: svc-b, svc-c, svc-h, c1..c10 ; team-a: svc-a, api-a ; team-a1: svc-d, svc-e ; ghosts: mon2
    assert by_owner == {"group:default/team-b": 13, "group:default/team-a": 2, "group:default/team-a1": 2,
                        "group:default/ghosts": 1}
    by_system = {g["system"]: g["count"] for g in answer["by_system"]}
    assert by_system == {None: 15, "system:default/sys-1": 2, "system:default/sys-2": 1}


def test_system_membership_and_foreign_namespace_do_not_propagate(catalog):
    impacted = refs_at(impact(catalog, "resource:default/db", depth=20))
    assert "resource:default/cache" not in impacted
    assert "system:default/sys-1" not in impacted
    assert "component:ops/mon" not in impacted        # it depends on resource:ops/db, not ours
    assert refs_at(impact(catalog, "resource:ops/db")) == {"component:ops/mon": 1}
    assert len(impacted) == 20                        # the whole chain fits in 20 hops


def test_depth_bound_without_cut_off(catalog):
    answer = impact(catalog, "component:default/svc-a", depth=3)
    assert refs_at(answer) == {"api:default/api-a": 1, "component:default/svc-h": 1,
                               "component:default/svc-b": 2, "component:default/svc-c": 3}
    assert answer["cut_off"] is False


def test_dependencies_walk_forwards(catalog):
    assert refs_at(dependencies(catalog, "component:default/svc-b"), "dependencies") == {
        "api:default/api-a": 1, "component:default/svc-c": 1, "component:default/svc-a": 2,
        "resource:default/db": 3,
    }
    # the parent needs its subcomponent, which needs the database
    assert refs_at(dependencies(catalog, "component:default/svc-e"), "dependencies") == {
        "component:default/svc-d": 1, "resource:default/db": 2,
    }
    deep = dependencies(catalog, "component:default/c12", depth=5)
    assert refs_at(deep, "dependencies") == {f"component:default/c{12 - i}": i for i in range(1, 6)}
    assert deep["cut_off"] is True


def test_system_root_does_not_walk_membership(catalog):
    assert dependencies(catalog, "system:default/sys-1")["dependencies"] == []
    assert impact(catalog, "system:default/sys-1")["impacted"] == []


def test_unknown_root_is_an_error(catalog):
    with pytest.raises(EntityNotFound):
        impact(catalog, "resource:default/nope")


def test_ownership_report_rolls_up_sub_groups(catalog):
    report = ownership_report(catalog)
    groups = {g["group"]: g for g in report["groups"]}
    assert groups["group:default/team-a1"]["total"] == {"Component": 2}
    assert groups["group:default/team-a"]["direct"] == {"API": 1, "Component": 1, "Resource": 2, "System": 1}
    assert groups["group:default/team-a"]["total_count"] == 5 + 2
    assert groups["group:default/org"]["direct_count"] == 0
    assert groups["group:default/org"]["total_count"] == 7 + groups["group:default/team-b"]["total_count"]
    assert groups["group:default/team-b"]["total"] == {"Component": 16, "System": 1}
    assert [u["ref"] for u in report["unowned"]] == ["component:ops/mon2"]
    assert "group:default/ghosts is not in the catalog" in report["unowned"][0]["reason"]
    assert {(d["from"], d["field"], d["to"]) for d in report["dangling"]} == {
        ("component:ops/mon2", "spec.owner", "group:default/ghosts"),
        ("component:ops/mon", "spec.dependsOn", "resource:ops/db"),
    }


def test_ownership_report_scoped_to_a_group_and_csv(catalog):
    report = ownership_report(catalog, "group:default/team-a")
    assert [g["group"] for g in report["groups"]] == ["group:default/team-a", "group:default/team-a1"]
    assert report["unowned"] == []
    lines = report_csv(report).splitlines()
    assert lines[0] == "category,group,entity,kind,owner,detail"
    assert "owned,group:default/team-a,component:default/svc-d,Component,group:default/team-a1,via sub-group" in lines
    with pytest.raises(LookupError):
        ownership_report(catalog, "group:default/nope")


def test_ownership_claims_climb_the_group_tree(catalog):
    from graph.ownership import owned_through, ownership_claims

    assert ownership_claims(catalog, "user:default/bob") == ["user:default/bob", "group:default/org",
                                                             "group:default/team-b"]
    owned = dict(owned_through(catalog, ownership_claims(catalog, "user:default/bob")))
    assert owned["system:default/sys-2"] == "group:default/team-b" and "resource:default/db" not in owned
    assert ownership_claims(catalog, "user:default/nobody") == ["user:default/nobody"]
