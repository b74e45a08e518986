"""Kind rules for every source, and first-wins that does not depend on the order a batch arrives in.

- A person registering a location through the API cannot add a `Template` (it would run with the server's
  integration credentials) unless an operator allow-listed that location.
- Two repositories of one provider declaring the same ref: the winner must not depend on the order the host
  happened to list them in (an attacker can create a repository that lists first, e.g. by name or date).
- An operator may still make a git source an org source (`kinds:`), and its teams then land.
"""
from __future__ import annotations

import textwrap

from ingest.jobs.config import ConfigError, parse_config
from ingest.jobs.runner import run_once
from ingest.sync import ingest_entities, new_run_id
from plugins.registry import load_registry
from tests.attacks.conftest import MALLORY, PASSWORD
from tests.portal_helpers import TEST_CSRF, with_csrf
from tests.test_signin_support import make_app

import pytest

TEMPLATE = textwrap.dedent("""\
    apiVersion: scaffolder.backstage.io/v1beta3
    kind: Template
    metadata: {name: exfiltrate}
    spec:
      type: service
      owner: team
      parameters: []
      steps:
        - {id: fetch, action: fetch:template, input: {url: ./skeleton}}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: harmless}
    spec: {type: service, lifecycle: production, owner: team}
""")


def component(name: str, description: str) -> dict:
    return {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": name, "description": description},
            "spec": {"type": "service", "lifecycle": "production", "owner": "team"}}


def test_a_registration_by_a_person_cannot_add_a_template(graph, neo4j_uri, tmp_path):
    from app.auth import accounts

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(TEMPLATE)
    app = make_app(neo4j_uri, {"local": True}, TRELLIS_ROLES={MALLORY: "editor", "local:mallory": "editor"},
                   TRELLIS_LOCATION_ROOTS=[str(tmp_path)])
    try:
        accounts.add_user(graph, "mallory", PASSWORD, user_ref=MALLORY)
        client = app.test_client()
        from tests.test_signin_support import form
        _, fields = form(client.get("/auth/login").get_data(as_text=True), "/auth/login")
        fields.update(username="mallory", password=PASSWORD)
        assert client.post("/auth/login", data=fields).status_code == 303
        with_csrf(client)
        response = client.post("/api/v1/locations", json={"target": str(folder)},
                               headers={"X-CSRF-Token": TEST_CSRF})
        assert response.status_code == 201, response.get_data(as_text=True)[:500]
        stored = {r["ref"] for r in graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")}
        assert "template:default/exfiltrate" not in stored, "a person's registration added a Template"
        assert "component:default/harmless" in stored
        (rejected,) = [r for r in response.get_json()["rejected"] if r["field"] == "kind"]
        assert rejected["ref"] == "template:default/exfiltrate" and "catalog rules" in rejected["reason"]
    finally:
        app.extensions["trellis.graph"].close()


def test_first_wins_does_not_depend_on_the_order_a_provider_lists_repositories(graph):
    """`a-real` and `z-attacker` both declare component payments; whichever the host lists first, the same
    one (by origin) must hold it, so creating a repository that lists first gains nothing."""
    real = ("github:acme/a-real/catalog-info.yaml", component("payments", "the real one"))
    fake = ("github:acme/z-attacker/catalog-info.yaml", component("payments", "the attacker's"))

    first = ingest_entities(graph, "github-acme", [fake, real], target="github:acme")
    owner_first = graph.read("MATCH (c:Entity {ref: 'component:default/payments'}) RETURN c.file AS f")[0]["f"]
    graph.write("MATCH (n) DETACH DELETE n")
    second = ingest_entities(graph, "github-acme-2", [real, fake], target="github:acme")
    owner_second = graph.read("MATCH (c:Entity {ref: 'component:default/payments'}) RETURN c.file AS f")[0]["f"]

    assert owner_first == owner_second == real[0], (owner_first, owner_second)
    assert [c["file"] for c in first.conflicts] == [c["file"] for c in second.conflicts] == [fake[0]]


def test_an_operator_can_make_a_git_source_an_org_source(graph, redis_lock, tmp_path):
    org = tmp_path / "org"
    org.mkdir()
    (org / "catalog-info.yaml").write_text(textwrap.dedent("""\
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: admins}
        spec: {type: team, children: []}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: User
        metadata: {name: root}
        spec: {memberOf: [admins]}
        ---
        apiVersion: scaffolder.backstage.io/v1beta3
        kind: Template
        metadata: {name: service}
        spec: {type: service, owner: admins, parameters: [], steps: []}
    """))
    config = parse_config({"sources": [{"name": "org", "provider": "git", "options": {"target": "org"},
                                        "kinds": ["Group", "User"]}]}, path=str(tmp_path / "trellis.yaml"))
    outcome = run_once(graph, "org", trigger="manual", force=False, run_id=new_run_id(), lock=redis_lock,
                       config=config, plugins=load_registry())
    refs = {r["ref"] for r in graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")}
    assert refs == {"group:default/admins", "user:default/root"}
    (rejected,) = outcome.result["rejected"]
    assert rejected["ref"] == "template:default/service" and "source org (configured kinds)" in rejected["reason"]

    with pytest.raises(ConfigError, match=r"sources\[0\]\.kinds: unknown kind"):
        parse_config({"sources": [{"name": "x", "provider": "git", "kinds": ["Groups"]}]})


def test_a_group_a_repository_added_before_kind_rules_is_removed_by_the_next_run(graph):
    """A catalog upgraded with an escalation already in it: the provider's next run drops the Group (and its
    MEMBER_OF edges) instead of keeping it as a merely rejected document."""
    from ingest.kinds import source_rules

    group = ("github:acme/sandbox/catalog-info.yaml", {
        "apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": "skunkworks"},
        "spec": {"type": "team", "parent": "platform", "children": [], "members": ["mallory"]}})
    service = ("github:acme/sandbox/catalog-info.yaml", component("sandbox", "a service"))
    before = ingest_entities(graph, "github-acme", [group, service], target="github:acme",
                             rules=source_rules("github-acme", None))      # as if any kind were allowed
    assert before.ok and before.added == 2

    after = ingest_entities(graph, "github-acme", [group, service], target="github:acme")
    refs = {r["ref"] for r in graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")}
    assert "group:default/skunkworks" not in refs and "component:default/sandbox" in refs
    assert after.removed == 1 and [r["field"] for r in after.rejected] == ["kind"]
    assert not graph.read("MATCH (:Entity {ref: 'user:default/mallory'})-[:MEMBER_OF]->(g) RETURN g.ref AS g")
