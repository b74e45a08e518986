"""Entity refs and relation derivation: pure rules, no database."""
import pytest

from graph.model import RefError, kind_label, parse_ref, relations_of


@pytest.mark.parametrize("text,default_kind,namespace,expected", [
    ("payments-db", "resource", "default", "resource:default/payments-db"),
    ("Resource:Payments-DB", None, "default", "resource:default/payments-db"),
    ("ops/sre", "group", "default", "group:ops/sre"),
    ("sre", "group", "ops", "group:ops/sre"),                   # namespace of the referring entity
    ("group:sre", None, "Data", "group:data/sre"),
    ("COMPONENT:Default/Checkout", None, "ops", "component:default/checkout"),
    ({"kind": "API", "name": "Orders"}, None, "shop", "api:shop/orders"),
])
def test_parse_ref_defaults_and_case(text, default_kind, namespace, expected):
    assert str(parse_ref(text, default_kind=default_kind, default_namespace=namespace)) == expected


@pytest.mark.parametrize("bad", ["", "  ", "component:", "component:ns/", "payments-db", 42])
def test_parse_ref_rejects(bad):
    with pytest.raises(RefError):
        parse_ref(bad)


def test_custom_kind_labels_are_sanitised():
    assert kind_label("component") == "Component"
    assert kind_label("api") == "API"
    assert kind_label("my-kind`) DETACH DELETE n //") == "KindMykinddetachdeleten"
    assert kind_label("9lives") == "KindK9lives"
    assert kind_label("DataSet") == kind_label("dataset") == "KindDataset"   # kinds are case-insensitive


def test_component_relations_follow_backstage_defaults():
    spec = {
        "owner": "payments", "system": "shop", "subcomponentOf": "checkout",
        "providesApis": ["orders"], "consumesApis": ["ops/metrics"],
        "dependsOn": ["resource:db", "Component:ops/Auth"], "dependencyOf": ["component:web"],
    }
    rels = relations_of("Component", "team", "component:team/svc", spec)
    got = {(r.type, r.source, r.target, r.via) for r in rels.relations}
    assert got == {
        ("OWNED_BY", "component:team/svc", "group:team/payments", "owner"),
        ("PART_OF", "component:team/svc", "system:team/shop", "system"),
        ("PART_OF", "component:team/svc", "component:team/checkout", "subcomponentOf"),
        ("PROVIDES_API", "component:team/svc", "api:team/orders", "providesApis"),
        ("CONSUMES_API", "component:team/svc", "api:ops/metrics", "consumesApis"),
        ("DEPENDS_ON", "component:team/svc", "resource:team/db", "dependsOn"),
        ("DEPENDS_ON", "component:team/svc", "component:ops/auth", "dependsOn"),
        ("DEPENDS_ON", "component:team/web", "component:team/svc", "dependencyOf"),   # reversed
    }
    assert rels.problems == []


def test_group_and_user_relations_point_forward():
    group = relations_of("Group", "default", "group:default/eng",
                         {"type": "team", "parent": "org", "children": ["web"], "members": ["jane"]})
    assert {(r.type, r.source, r.target) for r in group.relations} == {
        ("CHILD_OF", "group:default/eng", "group:default/org"),
        ("CHILD_OF", "group:default/web", "group:default/eng"),
        ("MEMBER_OF", "user:default/jane", "group:default/eng"),
    }
    user = relations_of("User", "default", "user:default/jane", {"memberOf": ["eng", "group:ops/sre"]})
    assert {r.target for r in user.relations} == {"group:default/eng", "group:ops/sre"}


def test_dependson_without_kind_is_a_problem_not_a_guess():
    rels = relations_of("Component", "default", "component:default/a", {"owner": "x", "dependsOn": ["db"]})
    assert [(p.field, "no kind" in p.reason) for p in rels.problems] == [("spec.dependsOn[0]", True)]
    assert [r.type for r in rels.relations] == ["OWNED_BY"]


def test_duplicate_refs_in_one_field_make_one_relation():
    rels = relations_of("Component", "default", "component:default/a",
                        {"owner": "x", "dependsOn": ["resource:db", "Resource:DB"]})
    assert sum(r.type == "DEPENDS_ON" for r in rels.relations) == 1


def test_ai_resource_relations_follow_the_current_catalog_model():
    """AiResource (catalog-model's alpha kind): owner -> ownedBy (Group by default), system -> partOf, and a
    skill's dependsOn (AiResource by default); kinds are case-insensitive, so `airesource` derives the same."""
    skill = {"type": "skill", "lifecycle": "production", "owner": "web-guild", "system": "design-system",
             "dependsOn": ["react-patterns", "component:ops/icons"]}
    for kind in ("AiResource", "airesource"):
        rels = relations_of(kind, "team", "airesource:team/ui-skill", skill)
        assert {(r.type, r.target, r.via) for r in rels.relations} == {
            ("OWNED_BY", "group:team/web-guild", "owner"),
            ("PART_OF", "system:team/design-system", "system"),
            ("DEPENDS_ON", "airesource:team/react-patterns", "dependsOn"),
            ("DEPENDS_ON", "component:ops/icons", "dependsOn"),
        }
    # dependsOn is a relation of skills only; a rule's owner and system still relate
    rule = {"type": "rule", "lifecycle": "production", "owner": "user:ops/ana", "category": "security",
            "rationale": "no secrets in prompts", "dependsOn": ["other-rule"]}
    assert {(r.type, r.target) for r in relations_of("AiResource", "team", "airesource:team/r", rule).relations} \
        == {("OWNED_BY", "user:ops/ana")}
