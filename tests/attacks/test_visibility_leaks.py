"""A viewer probes the catalog for what it may not see (issue 11, items 3 and 8).

bob is a plain viewer in no group. Hidden from him: the restricted components pay-ledger (owned by payments)
and vault-sync (owned by vault-team), and the restricted group secret-ops (no owner: admins only). Each test
asks over HTTP, as bob, with a real API token or a real session, and asserts that his answer does not name a
hidden entity nor tell a hidden ref apart from a ref that does not exist.
"""
from __future__ import annotations

import csv
import io
import json
import textwrap

import pytest

from app import create_app
from ingest.sync import ingest
from tests.support.signin import add_accounts, session_client, token_client

SECRET = "v" * 40

CATALOG = textwrap.dedent("""\
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: org}
    spec: {type: organization, children: [payments, vault-team, secret-ops]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: payments}
    spec: {type: team, children: [], members: [alice]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: vault-team}
    spec: {type: team, children: [], members: [vera]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata:
      name: secret-ops
      annotations: {trellis.io/restricted: "true"}
    spec: {type: team, children: [secret-cell], members: [carol]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: secret-cell}
    spec: {type: team, children: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: alice}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: bob}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: carol}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: vera}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: dana}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Resource
    metadata: {name: pay-db}
    spec: {type: database, owner: payments}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: API
    metadata: {name: pay-events}
    spec: {type: asyncapi, lifecycle: production, owner: payments, definition: "asyncapi: 2.6.0"}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: pay-api}
    spec: {type: service, lifecycle: production, owner: payments, dependsOn: [resource:pay-db],
           providesApis: [pay-events]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: pay-ledger
      annotations: {trellis.io/restricted: "true"}
    spec: {type: service, lifecycle: production, owner: payments, dependsOn: [resource:pay-db],
           consumesApis: [pay-events]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: vault-sync
      annotations: {trellis.io/restricted: "true"}
    spec: {type: service, lifecycle: production, owner: vault-team}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: vault-notes
      annotations: {trellis.io/restricted: "true", backstage.io/techdocs-ref: "dir:."}
    spec: {type: library, lifecycle: production, owner: vault-team}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: ops-console}
    spec: {type: website, lifecycle: production, owner: secret-ops}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: cell-tool}
    spec: {type: tool, lifecycle: production, owner: secret-cell}
    """)

HIDDEN = ("component:default/pay-ledger", "component:default/vault-sync", "component:default/vault-notes",
          "group:default/secret-ops")
HIDDEN_NAMES = ("pay-ledger", "vault-sync", "vault-notes", "secret-ops")
MISSING = {"component": "component:default/no-such-component", "group": "group:default/no-such-group"}

RELATION_FACETS = ("ownedby", "ownerof", "dependson", "dependencyof", "providesapi", "apiprovidedby",
                   "consumesapi", "apiconsumedby", "memberof", "hasmember", "childof", "parentof", "partof",
                   "haspart")


@pytest.fixture(scope="module")
def portal(graph_module, neo4j_uri, tmp_path_factory):
    root = tmp_path_factory.mktemp("visibility-attack")
    (root / "catalog-info.yaml").write_text(CATALOG)
    result = ingest(graph_module, str(root))
    assert result.ok and result.added == 18, result.as_json()
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development",
                      "SECRET_KEY": SECRET, "TRELLIS_ROLES": {"user:default/dana": "admin"},
                      "TRELLIS_LOCATION_ROOTS": [str(root)]})
    add_accounts(graph_module, ("alice", "bob", "carol", "vera", "dana"))
    yield app
    app.extensions["trellis.graph"].close()


@pytest.fixture(scope="module")
def bob_api(portal, graph_module):
    return token_client(portal, graph_module, "bob")


def _leaked(text: str) -> list[str]:
    return [name for name in HIDDEN_NAMES if name in text]


def test_relation_facets_do_not_list_or_count_hidden_entities(bob_api, portal, graph_module):
    admin = session_client(portal, "dana")
    query = "&".join(f"facet=relations.{name}" for name in RELATION_FACETS)
    full = admin.get(f"/api/v1/entity-facets?{query}").get_json()["facets"]
    # the attack is real: these facets do relate to hidden entities
    assert {"value": "component:default/pay-ledger", "count": 1} in full["relations.dependencyof"]
    assert {"value": "component:default/pay-ledger", "count": 1} in full["relations.apiconsumedby"]
    assert {"value": "group:default/secret-ops", "count": 1} in full["relations.memberof"]

    response = bob_api.get(f"/api/v1/entity-facets?{query}")
    assert response.status_code == 200
    facets = response.get_json()["facets"]
    assert _leaked(json.dumps(facets)) == [], facets
    # what he may see is still counted: payments owns three entities he can read
    assert {"value": "group:default/payments", "count": 3} in facets["relations.ownedby"]
    assert {"value": "component:default/pay-api", "count": 1} in facets["relations.ownerof"]
    # a facet narrowed by a relation filter on a hidden ref counts nothing
    narrowed = bob_api.get("/api/v1/entity-facets?facet=kind"
                           "&filter=relations.dependencyof=component:default/pay-ledger").get_json()
    assert narrowed["facets"]["kind"] == []


@pytest.mark.parametrize("relation,hidden", [
    ("dependencyof", "component:default/pay-ledger"),
    ("apiconsumedby", "component:default/pay-ledger"),
    ("ownedby", "group:default/secret-ops"),
    ("childof", "group:default/secret-ops"),
    ("parentof", "group:default/secret-ops"),
    ("ownerof", "component:default/vault-sync"),
    ("memberof", "group:default/secret-ops"),
])
def test_relation_filter_is_no_existence_oracle(bob_api, relation, hidden):
    kind = hidden.split(":", 1)[0]

    def answer(ref: str) -> tuple:
        body = bob_api.get(f"/api/v1/entities?filter=relations.{relation}={ref}&limit=100").get_json()
        return body["totalItems"], sorted(e["metadata"]["name"] for e in body["items"])

    assert answer(hidden) == answer(MISSING[kind]) == (0, [])


def test_relation_presence_filter_does_not_count_hidden_ends(bob_api):
    # vault-team owns only restricted entities: "owns something" must not single it out
    body = bob_api.get("/api/v1/entities?filter=kind=group,relations.ownerof&limit=100").get_json()
    names = sorted(e["metadata"]["name"] for e in body["items"])
    assert "vault-team" not in names and body["totalItems"] == len(names)
    assert "payments" in names


def test_ownership_report_json_and_csv_list_only_visible_groups(bob_api, portal, graph_module):
    admin = session_client(portal, "dana")
    assert "group:default/secret-ops" in {g["group"] for g in admin.get("/api/v1/reports/ownership").get_json()["groups"]}

    report = bob_api.get("/api/v1/reports/ownership").get_json()
    assert _leaked(json.dumps(report)) == [], json.dumps(report)[:2000]
    groups = {g["group"]: g for g in report["groups"]}
    assert "group:default/secret-cell" in groups and groups["group:default/secret-cell"]["parents"] == []
    assert report["totals"]["hidden"] == 4       # pay-ledger, vault-sync, vault-notes and the group secret-ops
    assert groups["group:default/payments"]["total_count"] == 3

    text = bob_api.get("/api/v1/reports/ownership?format=csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert _leaked(text) == [], text
    assert rows[-1][0] == "hidden" and rows[-1][-1].startswith("4 entities you cannot see")


def test_ownership_report_scoped_to_a_hidden_group_is_a_404_like_a_missing_one(bob_api):
    hidden = bob_api.get("/api/v1/reports/ownership?group=group:default/secret-ops")
    missing = bob_api.get("/api/v1/reports/ownership?group=group:default/no-such-group")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json()["error"]["code"] == missing.get_json()["error"]["code"] == "not_found"
    assert (hidden.get_json()["error"]["message"].replace("secret-ops", "X")
            == missing.get_json()["error"]["message"].replace("no-such-group", "X"))


def test_ownership_page_and_tabs_do_not_name_hidden_groups(portal, graph_module):
    bob = session_client(portal, "bob")
    page = bob.get("/reports/ownership")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _leaked(html) == [], [line for line in html.splitlines() if "secret" in line][:5]
    assert "4 entities you cannot see" in html
    # carol is in secret-ops: her Ownership tab must not name it, but says one group is not shown
    tab = bob.get("/catalog/default/user/carol?tab=ownership").get_data(as_text=True)
    assert _leaked(tab) == [], [line for line in tab.splitlines() if "secret" in line][:5]
    assert "1 group you cannot see" in tab
    org = bob.get("/catalog/default/group/org?tab=ownership").get_data(as_text=True)
    assert _leaked(org) == [], [line for line in org.splitlines() if "secret-ops" in line][:5]
    hidden = bob.get("/reports/ownership?group=group:default/secret-ops")
    assert hidden.status_code == 404 and "secret-ops is not a group" not in hidden.get_data(as_text=True).replace(
        "group:default/secret-ops is not a group in the catalog", "")


def test_no_tab_of_a_visible_entity_names_a_hidden_one(portal):
    from app.web.helpers import tabs_for

    bob = session_client(portal, "bob")
    alice = session_client(portal, "alice")
    for kind, name in (("group", "org"), ("group", "payments"), ("group", "secret-cell"), ("user", "carol"),
                       ("resource", "pay-db"), ("api", "pay-events"), ("component", "pay-api")):
        entity = alice.get(f"/api/v1/entities/by-name/{kind}/default/{name}").get_json()
        for tab in tabs_for(kind, entity):
            response = bob.get(f"/catalog/default/{kind}/{name}?tab={tab}")
            assert response.status_code == 200, (kind, name, tab)
            assert _leaked(response.get_data(as_text=True)) == [], (kind, name, tab)
    around = bob.get("/api/v1/graph/neighbourhood?ref=group:default/org&depth=3").get_json()
    assert _leaked(json.dumps(around)) == [] and around["hidden"] >= 1


def test_docs_of_a_deleted_restricted_entity_stay_out_of_search(portal, graph_module):
    from graph.search import doc_page_documents, index_doc_pages

    ref = "component:default/vault-notes"
    index_doc_pages(graph_module, ref, [
        {"path": "index.md", "title": "Vault runbook", "text": "Rotate the quokkaplinth master key every Monday."}])
    bob, vera = session_client(portal, "bob"), session_client(portal, "vera")
    admin = session_client(portal, "dana")

    def hits(client) -> list[str]:
        return [i["ref"] for i in client.get("/api/v1/search?q=quokkaplinth").get_json()["items"]]

    assert hits(vera) == [ref] and hits(bob) == []          # the owner finds it, a viewer does not

    deleted = admin.delete("/api/v1/entities/by-name/component/default/vault-notes")
    assert deleted.status_code == 204, deleted.get_json()
    assert bob.get("/api/v1/entities/by-name/component/default/vault-notes").status_code == 404
    # the entity is gone: its docs pages are nobody's to find, and the page does not show the text either
    assert hits(bob) == [] and hits(vera) == []
    page = bob.get("/search?q=quokkaplinth").get_data(as_text=True)
    assert "Vault runbook" not in page and "master key" not in page and "vault-notes" not in page
    # what an external engine (OpenSearch/Elasticsearch) indexes from holds none of its pages
    assert [d for d in doc_page_documents(graph_module) if d["ref"] == ref] == []
