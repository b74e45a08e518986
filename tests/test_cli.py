"""The `trellis` CLI as a user runs it: exit codes, human and JSON output, the demo catalog."""
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo-catalog"


@pytest.fixture
def run(graph, neo4j_uri, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    return invoke


@pytest.fixture
def demo(run):
    result = run("ingest", str(DEMO), "--json")
    assert result.exit_code == 2, result.output      # one document of the demo is invalid on purpose
    return json.loads(result.stdout)


def test_ingest_demo_reports_the_deliberate_rejection(demo, run):
    assert (demo["added"], demo["updated"], demo["unchanged"], demo["removed"]) == (117, 0, 0, 0)
    assert demo["rejected"] == [{
        "file": "teams/payments/catalog-info.yaml", "document": 8,
        "ref": "component:default/payments-reconciler", "field": "spec.lifecycle",
        "reason": "spec.lifecycle is required",
    }]
    assert demo["conflicts"] == [] and demo["files"] == 17
    again = run("ingest", str(DEMO))
    assert again.exit_code == 2
    assert "0 added, 0 updated, 117 unchanged, 0 removed" in again.stdout
    assert "Catalog unchanged." in again.stdout
    assert "teams/payments/catalog-info.yaml document 8: component:default/payments-reconciler spec.lifecycle" \
        in again.stdout


def test_ingest_clean_directory_exits_zero(run, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: solo}\nspec: {type: team, children: []}\n")
    result = run("ingest", str(tmp_path))
    assert result.exit_code == 0 and "1 added" in result.stdout


def test_dry_run_writes_nothing(run, graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: solo}\nspec: {type: team, children: []}\n")
    result = run("ingest", str(tmp_path), "--dry-run", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["added"] == 1
    assert graph.read("MATCH (n) RETURN count(n) AS c")[0]["c"] == 0


def test_missing_path_is_fatal(run, tmp_path):
    result = run("ingest", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'} does not exist"


def test_directory_without_descriptors_is_fatal(run, tmp_path):
    result = run("ingest", str(tmp_path))
    assert result.exit_code == 1 and "no catalog-info.yaml" in result.stderr


def test_impact_json_on_demo(demo, run):
    result = run("impact", "Resource:Default/Payments-DB", "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["root"]["ref"] == "resource:default/payments-db"
    assert answer["root"]["owner"] == "group:default/payments-team"
    distances = {i["ref"]: i["distance"] for i in answer["impacted"]}
    # hand-worked in examples/demo-catalog/README.md
    assert len(distances) == 20 and max(distances.values()) == 6
    assert distances["component:default/payments-service"] == 1
    assert distances["component:default/payments-backoffice"] == 2      # via its subcomponent refund-worker
    assert distances["component:default/checkout-service"] == 3
    assert distances["api:default/cart-api"] == 6
    assert {g["owner"]: g["count"] for g in answer["by_owner"]}["group:default/payments-team"] == 9
    assert {g["system"]: g["count"] for g in answer["by_system"]} == {
        "system:default/payments": 9, "system:default/checkout": 7, "system:data/analytics": 3,
        "system:ops/platform-infra": 1}
    assert answer["cut_off"] is False


def test_impact_human_output_and_cut_off(demo, run):
    result = run("impact", "resource:default/payments-db", "--depth", "2")
    assert result.exit_code == 0
    assert "within 2 hops (cut off: more lie beyond; raise --depth)" in result.stdout
    assert "By owner:" in result.stdout and "group:default/payments-team" in result.stdout


def test_deps_on_demo(demo, run):
    result = run("deps", "component:default/checkout-service", "--json")
    assert result.exit_code == 0
    needed = {i["ref"] for i in json.loads(result.stdout)["dependencies"]}
    assert "api:default/payments-api" in needed and "resource:default/payments-db" in needed


def test_unknown_entity_and_bad_ref_are_clear_errors(demo, run):
    missing = run("impact", "resource:default/nope")
    assert missing.exit_code == 1 and missing.stderr.strip() == "error: resource:default/nope is not in the catalog"
    bad = run("impact", "payments-db")
    assert bad.exit_code == 1 and "has no kind" in bad.stderr
    depth = run("impact", "resource:default/payments-db", "--depth", "0")
    assert depth.exit_code == 2 and "--depth" in depth.stderr   # click usage error


def test_ownership_report_csv(demo, run):
    result = run("report", "ownership", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    unowned = {r["entity"] for r in rows if r["category"] == "unowned"}
    assert unowned == {"component:default/legacy-feed-exporter", "template:default/static-site"}
    dangling = {(r["entity"], r["detail"]) for r in rows if r["category"] == "dangling"}
    assert ("component:default/recommendations-service",
            "spec.dependsOn -> resource:default/recs-model-cache (not in the catalog)") in dangling
    # the organisation root owns everything below it, through sub-groups
    root_rows = [r for r in rows if r["category"] == "owned" and r["group"] == "group:default/acme"]
    assert len(root_rows) > 50 and {r["detail"] for r in root_rows} <= {"direct", "via sub-group"}


def test_ownership_report_group_scope_and_text(demo, run):
    result = run("report", "ownership", "--group", "payments-team", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["scope"] == "group:default/payments-team" and data["unowned"] == []
    assert data["groups"][0]["group"] == "group:default/payments-team"
    text = run("report", "ownership")
    assert text.exit_code == 0 and "Unowned (2):" in text.stdout and "Dangling references (2):" in text.stdout


def test_neo4j_unreachable_is_exit_1(monkeypatch, tmp_path):
    from servers.base import free_port

    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{free_port()}")
    (tmp_path / "catalog-info.yaml").write_text("kind: Group\n")
    result = CliRunner().invoke(main, ["ingest", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Neo4j is not reachable at bolt://127.0.0.1:")
    assert len(result.stderr.strip().splitlines()) == 1
