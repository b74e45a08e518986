"""Ingestion into the real Neo4j: kinds and relations, idempotency, removal, conflicts, placeholders."""
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from ingest.sync import IngestError, RemovalGuard, ingest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def component(name: str, *, owner="team", namespace=None, extra="") -> str:
    ns = f", namespace: {namespace}" if namespace else ""
    return textwrap.dedent(f"""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {{name: {name}{ns}}}
        spec: {{type: service, lifecycle: production, owner: {owner}{extra}}}
        """)


def node(graph, ref):
    rows = graph.read("MATCH (n:Entity {ref: $ref}) RETURN n, labels(n) AS labels", ref=ref)
    return (dict(rows[0]["n"]), set(rows[0]["labels"])) if rows else (None, set())


def rels(graph, ref):
    rows = graph.read(
        "MATCH (a:Entity {ref: $ref})-[r]->(b) RETURN type(r) AS t, b.ref AS b ORDER BY t, b", ref=ref)
    return [(r["t"], r["b"]) for r in rows]


def count(graph, query="MATCH (n:Entity) WHERE NOT n:Unresolved RETURN count(n) AS c"):
    return graph.read(query)[0]["c"]


EVERY_KIND = """
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: commerce}
spec: {owner: sales, subdomainOf: retail}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: retail}
spec: {owner: sales}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: shop}
spec: {owner: sales, domain: commerce}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: Web, title: Web shop, tags: [python, web], description: The storefront}
spec: {type: website, lifecycle: production, owner: sales, system: shop, subcomponentOf: platform,
       providesApis: [orders], consumesApis: [ops/metrics], dependsOn: [resource:db], dependencyOf: [component:edge]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: platform}
spec: {type: service, lifecycle: production, owner: user:jane}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: orders}
spec: {type: openapi, lifecycle: production, owner: sales, system: shop, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: db}
spec: {type: database, owner: sales, system: shop, dependsOn: [resource:disk], dependencyOf: [resource:backup]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: sales}
spec: {type: team, parent: org, children: [], members: [jane]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: org}
spec: {type: root, children: [sales]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: jane}
spec: {memberOf: [sales], profile: {displayName: Jane Doe, email: jane@example.com}}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: new-service}
spec: {type: service, owner: sales, parameters: [], steps: []}
---
apiVersion: acme.io/v1
kind: ServiceLevel
metadata: {name: web-slo}
spec: {target: 99.9}
"""


def test_every_kind_and_relation_lands(graph, tmp_path):
    root = tmp_path / "repo"
    write(root / "catalog-info.yaml", EVERY_KIND)
    result = ingest(graph, str(root))
    assert (result.added, result.rejected, result.conflicts) == (12, [], [])

    web, labels = node(graph, "component:default/web")
    assert labels == {"Entity", "Component"}
    assert web["title"] == "Web shop" and web["tags"] == ["python", "web"] and web["owner"] == "group:default/sales"
    assert web["source"] == f"file:{root.resolve()}"
    stored = json.loads(web["descriptor"])
    assert stored["metadata"]["annotations"]["backstage.io/managed-by-location"] == \
        f"file:{(root / 'catalog-info.yaml').resolve()}"
    assert rels(graph, "component:default/web") == [
        ("CONSUMES_API", "api:ops/metrics"), ("DEPENDS_ON", "resource:default/db"),
        ("OWNED_BY", "group:default/sales"), ("PART_OF", "component:default/platform"),
        ("PART_OF", "system:default/shop"), ("PROVIDES_API", "api:default/orders"),
    ]
    assert ("DEPENDS_ON", "component:default/web") in rels(graph, "component:default/edge")
    assert rels(graph, "resource:default/backup") == [("DEPENDS_ON", "resource:default/db")]
    assert rels(graph, "system:default/shop") == [("OWNED_BY", "group:default/sales"),
                                                  ("PART_OF", "domain:default/commerce")]
    assert rels(graph, "domain:default/commerce") == [("OWNED_BY", "group:default/sales"),
                                                      ("PART_OF", "domain:default/retail")]
    assert rels(graph, "group:default/sales") == [("CHILD_OF", "group:default/org")]
    # memberOf (from the user) and members (from the group) are both declared: stored per declarer
    assert set(rels(graph, "user:default/jane")) == {("MEMBER_OF", "group:default/sales")}
    assert rels(graph, "component:default/platform") == [("OWNED_BY", "user:default/jane")]
    _, slo_labels = node(graph, "servicelevel:default/web-slo")
    assert slo_labels == {"Entity", "KindServicelevel"}
    # refs to entities nobody declared are placeholders carrying their kind label
    _, ph = node(graph, "api:ops/metrics")
    assert ph == {"Entity", "Unresolved", "API"}


AI_RESOURCES = """\
apiVersion: backstage.io/v1alpha1
kind: AiResource
metadata: {name: checkout-review, description: Review checklist for checkout code}
spec:
  type: skill
  lifecycle: production
  owner: payments
  system: shop
  agents: [claude-code]
  dependsOn: [style-guide]
---
apiVersion: backstage.io/v1alpha1
kind: AiResource
metadata: {name: no-raw-sql}
spec:
  type: rule
  lifecycle: experimental
  owner: user:jane
  category: security
  rationale: Queries go through the repository layer
"""


def test_ai_resources_land_with_the_owner_and_system_relations_backstage_computes(graph, tmp_path):
    root = tmp_path / "repo"
    write(root / "catalog-info.yaml", AI_RESOURCES)
    assert ingest(graph, str(root)).rejected == []
    assert rels(graph, "airesource:default/checkout-review") == [
        ("DEPENDS_ON", "airesource:default/style-guide"), ("OWNED_BY", "group:default/payments"),
        ("PART_OF", "system:default/shop")]
    assert rels(graph, "airesource:default/no-raw-sql") == [("OWNED_BY", "user:default/jane")]


def test_reingest_unchanged_writes_nothing(graph, tmp_path):
    root = tmp_path / "repo"
    write(root / "catalog-info.yaml", EVERY_KIND)
    ingest(graph, str(root))
    before = graph.read("MATCH (n:Entity) RETURN collect([n.ref, n.run]) AS s")[0]["s"]
    again = ingest(graph, str(root))
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 12, 0)
    assert graph.read("MATCH (n:Entity) RETURN collect([n.ref, n.run]) AS s")[0]["s"] == before   # runs are recorded


def test_change_and_removal_touch_only_what_changed(graph, tmp_path):
    root = tmp_path / "repo"
    f = write(root / "catalog-info.yaml",
              component("a", extra=", dependsOn: [component:b]") + "---\n" + component("b") + "---\n" + component("c"))
    ingest(graph, str(root))
    write(f, component("a", extra=", dependsOn: [component:c]") + "---\n" + component("c"))
    result = ingest(graph, str(root))
    assert (result.added, result.updated, result.unchanged, result.removed) == (0, 1, 1, 1)
    assert rels(graph, "component:default/a") == [("DEPENDS_ON", "component:default/c"),
                                                  ("OWNED_BY", "group:default/team")]
    assert node(graph, "component:default/b") == (None, set())    # nobody points at it any more: gone


def test_removed_entity_still_referenced_becomes_a_placeholder(graph, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    write(one / "catalog-info.yaml", component("db-client", extra=", dependsOn: [component:billing]"))
    f = write(two / "catalog-info.yaml", component("billing") + "---\n" + component("other"))
    ingest(graph, str(one))
    ingest(graph, str(two))
    assert "Unresolved" not in node(graph, "component:default/billing")[1]
    write(f, component("other"))
    assert ingest(graph, str(two)).removed == 1
    props, labels = node(graph, "component:default/billing")
    assert labels == {"Entity", "Component", "Unresolved"} and "descriptor" not in props
    assert rels(graph, "component:default/db-client")[0] == ("DEPENDS_ON", "component:default/billing")
    assert rels(graph, "component:default/billing") == []          # its own declared relations are gone


def test_placeholder_is_filled_by_a_later_ingest(graph, tmp_path):
    write(tmp_path / "a" / "catalog-info.yaml", component("front", extra=", dependsOn: [component:back]"))
    write(tmp_path / "b" / "catalog-info.yaml", component("back"))
    ingest(graph, str(tmp_path / "a"))
    assert "Unresolved" in node(graph, "component:default/back")[1]
    ingest(graph, str(tmp_path / "b"))
    props, labels = node(graph, "component:default/back")
    assert "Unresolved" not in labels and props["lifecycle"] == "production"
    assert rels(graph, "component:default/front")[0] == ("DEPENDS_ON", "component:default/back")


def test_same_ref_from_two_locations_first_keeps_it(graph, tmp_path):
    write(tmp_path / "a" / "catalog-info.yaml", component("shared", owner="alpha"))
    write(tmp_path / "b" / "catalog-info.yaml", component("Shared", owner="beta") + "---\n" + component("mine"))
    ingest(graph, str(tmp_path / "a"))
    second = ingest(graph, str(tmp_path / "b"))
    assert second.added == 1
    assert [c["ref"] for c in second.conflicts] == ["component:default/shared"]
    assert "already owned by location file:" in second.conflicts[0]["reason"]
    assert node(graph, "component:default/shared")[0]["owner"] == "group:default/alpha"


def test_duplicate_ref_inside_one_location_is_a_conflict(graph, tmp_path):
    write(tmp_path / "catalog-info.yaml", component("dup", owner="one") + "---\n" + component("DUP", owner="two"))
    result = ingest(graph, str(tmp_path))
    assert result.added == 1 and [(c["ref"], c["document"]) for c in result.conflicts] == [("component:default/dup", 2)]
    assert node(graph, "component:default/dup")[0]["owner"] == "group:default/one"


def test_rejected_document_keeps_its_previous_version(graph, tmp_path):
    f = write(tmp_path / "catalog-info.yaml", component("keep") + "---\n" + component("other"))
    ingest(graph, str(tmp_path))
    broken = component("keep").replace("lifecycle: production, ", "")
    write(f, broken + "---\n" + component("other"))
    result = ingest(graph, str(tmp_path))
    assert [(r["ref"], r["field"]) for r in result.rejected] == [("component:default/keep", "spec.lifecycle")]
    assert result.removed == 0
    assert node(graph, "component:default/keep")[0]["lifecycle"] == "production"


def test_unreadable_file_removes_nothing_it_held(graph, tmp_path):
    f = write(tmp_path / "catalog-info.yaml", component("held"))
    ingest(graph, str(tmp_path))
    f.write_text("kind: [unclosed\n")
    result = ingest(graph, str(tmp_path))
    assert result.removed == 0
    assert [(r["file"], r["ref"]) for r in result.rejected] == [("catalog-info.yaml", None)]
    assert node(graph, "component:default/held")[0] is not None


def test_bad_ref_in_a_relation_field_rejects_the_document(graph, tmp_path):
    write(tmp_path / "catalog-info.yaml", component("x", extra=", dependsOn: [db]") + "---\n" + component("y"))
    result = ingest(graph, str(tmp_path))
    assert result.added == 1
    assert [(r["document"], r["ref"], r["field"]) for r in result.rejected] == [(1, "component:default/x",
                                                                                "spec.dependsOn[0]")]


def test_removal_guard_refuses_mass_deletion(graph, tmp_path):
    f = write(tmp_path / "catalog-info.yaml", "---\n".join(component(f"s{i}") for i in range(20)))
    ingest(graph, str(tmp_path))
    write(f, component("s0"))
    with pytest.raises(IngestError, match="refusing to remove 19 of 20"):
        ingest(graph, str(tmp_path))
    assert count(graph) == 20 + 0  # nothing deleted
    assert ingest(graph, str(tmp_path), guard=RemovalGuard(force=True)).removed == 19


def test_ingest_a_git_repository_by_url(graph, tmp_path):
    repo = tmp_path / "src"
    write(repo / "catalog-info.yaml", component("from-git"))
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["-C", str(repo), "add", "."], check=True)
    subprocess.run(git + ["-C", str(repo), "commit", "-qm", "init"], check=True)
    url = f"file://{repo}"
    result = ingest(graph, url)
    assert result.added == 1 and result.source == f"url:{url}"
    write(repo / "catalog-info.yaml", component("from-git") + "---\n" + component("second"))
    subprocess.run(git + ["-C", str(repo), "commit", "-qam", "more"], check=True)
    result = ingest(graph, url)
    assert (result.added, result.unchanged) == (1, 1)


def test_unchanged_files_are_not_parsed_again_but_changes_are_seen(graph, tmp_path):
    root = tmp_path / "repo"
    write(root / "catalog-info.yaml", """\
        apiVersion: backstage.io/v1alpha1
        kind: Location
        metadata: {name: root}
        spec: {targets: [./teams/*.yaml]}
        """)
    write(root / "teams" / "a.yaml", component("a"))
    write(root / "teams" / "b.yaml", component("b") + "---\n" + textwrap.dedent("""\
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {name: b-api}
        spec: {type: openapi, lifecycle: production, owner: team, definition: {$text: ../openapi.yaml}}
        """))
    write(root / "openapi.yaml", "openapi: 3.0.0\n")
    assert ingest(graph, str(root)).added == 4

    again = ingest(graph, str(root))
    assert (again.reused_files, again.unchanged, again.added, again.updated) == (2, 4, 0, 0)  # b.yaml: $text

    write(root / "openapi.yaml", "openapi: 3.1.0\n")             # a substituted file changed
    write(root / "teams" / "c.yaml", component("c"))             # the Location's glob matches a new file
    changed = ingest(graph, str(root))
    assert (changed.added, changed.updated, changed.unchanged, changed.removed) == (1, 1, 3, 0)
    api = json.loads(node(graph, "api:default/b-api")[0]["descriptor"])
    assert api["spec"]["definition"] == "openapi: 3.1.0\n"

    (root / "teams" / "a.yaml").unlink()
    assert ingest(graph, str(root)).removed == 1


def test_a_stale_cache_never_hides_missing_entities(graph, tmp_path, neo4j_driver):
    write(tmp_path / "catalog-info.yaml", component("a") + "---\n" + component("b"))
    ingest(graph, str(tmp_path))
    neo4j_driver.execute_query("MATCH (n {ref: 'component:default/b'}) DETACH DELETE n", database_="neo4j")
    result = ingest(graph, str(tmp_path))
    assert (result.reused_files, result.added, result.unchanged) == (0, 1, 1)
    assert node(graph, "component:default/b")[0] is not None


def test_non_finite_number_rejects_only_its_document(graph, tmp_path):
    write(tmp_path / "catalog-info.yaml",
          component("odd", extra=", weight: .inf") + "---\n" + component("fine"))
    result = ingest(graph, str(tmp_path))
    assert result.added == 1
    assert [(r["ref"], r["field"]) for r in result.rejected] == [("component:default/odd", "spec.weight")]


def test_a_failed_run_deletes_nothing(graph, tmp_path, monkeypatch):
    from graph import write as graph_write

    f = write(tmp_path / "catalog-info.yaml", component("stays") + "---\n" + component("goes"))
    ingest(graph, str(tmp_path))
    write(f, component("stays", extra=", dependsOn: [component:new]") + "---\n" + component("new"))

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away mid-run")
    monkeypatch.setattr(graph_write, "create_relations", broken)
    with pytest.raises(RuntimeError):
        ingest(graph, str(tmp_path))
    assert node(graph, "component:default/goes")[0] is not None      # removal comes last
    monkeypatch.undo()
    assert ingest(graph, str(tmp_path)).removed == 1


def test_concurrent_runs_of_one_location_do_not_collide(graph, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    write(tmp_path / "catalog-info.yaml", "---\n".join(
        component(f"c{i}", extra=f", dependsOn: [component:c{i + 1}]") for i in range(30)))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: ingest(graph, str(tmp_path)), range(2)))
    assert sorted((r.added, r.unchanged) for r in results) == [(0, 30), (30, 0)]
    doubled = graph.read("MATCH (a)-[r:DEPENDS_ON]->(b) WITH a, b, count(r) AS n WHERE n > 1 RETURN count(*) AS c")
    assert doubled[0]["c"] == 0 and count(graph) == 30
