"""AWS provider: Lambda, ECS, RDS, S3, DynamoDB, SQS -> Resource entities linked to components by tags.

Transforms are pure (unit tests); the provider runs against moto in *server* mode (a real HTTP endpoint on a
free port) and loads through ingest_entities into the real Neo4j.
"""
from __future__ import annotations

import io
import zipfile

import pytest

from servers.base import free_port
from plugins.builtin.aws import transform as aws
from plugins.builtin.aws.provider import AwsUnavailable
from ingest.sync import ingest
from ingest.context import sync_context
from plugins.builtin.aws import AwsProvider

# ------------------------------------------------------------------------------------------ transforms


def _record(**over):
    base = {"service": "sqs", "name": "orders-events", "arn": "arn:aws:sqs:eu-west-1:123456789012:orders-events",
            "region": "eu-west-1", "account": "123456789012", "tags": {}, "origin": "aws:main/eu-west-1/sqs"}
    return {**base, **over}


def test_transform_links_component_owner_and_system_from_tags():
    entity = aws.transform(_record(tags={"component": "checkout, component:shop/cart", "Owner": "group:payments",
                                         "system": "orders"}), name="orders-events")
    assert entity == {
        "apiVersion": "backstage.io/v1alpha1", "kind": "Resource",
        "metadata": {"name": "orders-events", "namespace": "default", "title": "orders-events",
                     "annotations": {"aws.amazon.com/arn": "arn:aws:sqs:eu-west-1:123456789012:orders-events",
                                     "aws.amazon.com/region": "eu-west-1",
                                     "aws.amazon.com/account-id": "123456789012", "aws.amazon.com/service": "sqs"},
                     "tags": ["aws", "sqs"]},
        "spec": {"type": "queue", "owner": "group:payments", "dependencyOf": ["component:checkout",
                                                                           "component:shop/cart"],
                 "system": "orders"},
    }
    bare = aws.transform(_record(service="rds", tags={}), name="x", default_owner="group:platform")
    assert bare["spec"] == {"type": "database", "owner": "group:platform"}


def test_backstage_component_tag_wins_over_component():
    entity = aws.transform(_record(tags={"backstage.io/component": "a", "component": "b"}), name="n")
    assert entity["spec"]["dependencyOf"] == ["component:a"]


@pytest.mark.parametrize("raw,expected", [
    ("my_table", "my_table"), ("-weird name!", "weird-name"), ("a" * 80, "a" * 63), ("???", "unnamed"),
    ("bucket.with.dots", "bucket.with.dots"),
])
def test_safe_name(raw, expected):
    assert aws.safe_name(raw) == expected


def test_colliding_names_get_arn_suffixes_deterministically():
    records = [_record(name="orders", arn="arn:1", service="sqs"), _record(name="orders", arn="arn:2", service="lambda"),
               _record(name="payments", arn="arn:3")]
    names = [e["metadata"]["name"] for _, e in aws.transform_all(records)]
    assert names[2] == "payments"
    assert names[0].startswith("orders-") and names[1].startswith("orders-") and names[0] != names[1]
    assert names == [e["metadata"]["name"] for _, e in aws.transform_all(records)]


def test_account_options_are_checked():
    assert aws.parse_accounts({"regions": ["eu-west-1"]})[0].name == "default"
    with pytest.raises(ValueError, match="regions"):
        aws.parse_accounts({"accounts": [{"name": "a"}]})
    with pytest.raises(ValueError, match="twice"):
        aws.parse_accounts({"accounts": [{"name": "a", "regions": ["x"]}, {"name": "a", "regions": ["y"]}]})
    with pytest.raises(ValueError, match="unknown aws services"):
        aws.services_of({"services": ["ec2"]})


# ------------------------------------------------------------------------------------------ moto server

@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_url, monkeypatch):
    import requests

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    return moto_url


def _boto(url, service, region="eu-west-1"):
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=url)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return 1\n")
    return buf.getvalue()


def _populate(url: str) -> None:
    iam = _boto(url, "iam")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    _boto(url, "lambda").create_function(
        FunctionName="checkout-handler", Runtime="python3.12", Role=role, Handler="handler.handler",
        Code={"ZipFile": _zip()}, Description="Handles checkout events",
        Tags={"component": "checkout", "owner": "group:default/shop-team"})
    ecs = _boto(url, "ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(family="cart", containerDefinitions=[{"name": "cart", "image": "cart:1", "memory": 256}])
    ecs.create_service(cluster="prod", serviceName="cart-api", taskDefinition="cart", desiredCount=1,
                       tags=[{"key": "backstage.io/component", "value": "component:default/cart"}])
    _boto(url, "rds").create_db_instance(
        DBInstanceIdentifier="payments-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="password123", AllocatedStorage=20,
        Tags=[{"Key": "component", "Value": "checkout"}, {"Key": "system", "Value": "payments"}])
    s3 = _boto(url, "s3")
    s3.create_bucket(Bucket="shop-assets", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_tagging(Bucket="shop-assets", Tagging={"TagSet": [{"Key": "component", "Value": "checkout"}]})
    s3.create_bucket(Bucket="untagged-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    ddb = _boto(url, "dynamodb")
    ddb.create_table(TableName="carts", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST", Tags=[{"Key": "component", "Value": "cart"}])
    _boto(url, "sqs").create_queue(QueueName="order-events", tags={"component": "checkout"})


CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: checkout}
spec: {type: service, lifecycle: production, owner: shop-team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: cart}
spec: {type: service, lifecycle: production, owner: shop-team}
"""


@pytest.fixture
def catalog(graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(CATALOG)
    assert ingest(graph, str(tmp_path)).added == 2


def _ctx(graph, run_id, options, secret=None):
    return sync_context(graph=graph, source="aws-test", options=options, run_id=run_id,
                       **({"secret": secret} if secret else {}))


def _resources(graph) -> dict[str, dict]:
    rows = graph.read("MATCH (r:Resource) WHERE NOT r:Unresolved RETURN r.ref AS ref, r.type AS type, r.source AS source")
    return {r["ref"]: {"type": r["type"], "source": r["source"]} for r in rows}


def test_sync_loads_every_service_as_resources_linked_by_tags(graph, catalog, aws_env):
    from graph.entities import get_entity

    _populate(aws_env)
    result = AwsProvider().sync(_ctx(graph, "run1", {"regions": ["eu-west-1"], "endpoint_url": aws_env,
                                                     "default_owner": "group:default/platform"}))
    assert result.rejected == [] and result.added == 7, result.as_json()
    assert {ref: r["type"] for ref, r in _resources(graph).items()} == {
        "resource:default/checkout-handler": "lambda-function", "resource:default/cart-api": "ecs-service",
        "resource:default/payments-db": "database", "resource:default/shop-assets": "s3-bucket",
        "resource:default/untagged-logs": "s3-bucket", "resource:default/carts": "dynamodb-table",
        "resource:default/order-events": "queue",
    }
    deps = graph.read("MATCH (c:Component)-[:DEPENDS_ON]->(r:Resource) RETURN c.name AS c, collect(r.name) AS rs")
    assert {r["c"]: sorted(r["rs"]) for r in deps} == {
        "checkout": ["checkout-handler", "order-events", "payments-db", "shop-assets"],
        "cart": ["cart-api", "carts"]}
    fn = get_entity(graph, "resource:default/checkout-handler")
    ann = fn["metadata"]["annotations"]
    assert ann["aws.amazon.com/arn"].startswith("arn:aws:lambda:eu-west-1:123456789012:function:checkout-handler")
    assert ann["aws.amazon.com/region"] == "eu-west-1" and ann["aws.amazon.com/account-id"] == "123456789012"
    assert fn["spec"]["owner"] == "group:default/shop-team"
    assert get_entity(graph, "resource:default/untagged-logs")["spec"]["owner"] == "group:default/platform"
    assert get_entity(graph, "resource:default/payments-db")["spec"]["system"] == "payments"


def test_a_resource_that_disappears_is_removed(graph, catalog, aws_env):
    _populate(aws_env)
    options = {"regions": ["eu-west-1"], "endpoint_url": aws_env, "services": ["sqs", "dynamodb"]}
    AwsProvider().sync(_ctx(graph, "run1", options))
    assert set(_resources(graph)) == {"resource:default/order-events", "resource:default/carts"}
    sqs = _boto(aws_env, "sqs")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="order-events")["QueueUrl"])
    second = AwsProvider().sync(_ctx(graph, "run2", options))
    assert second.removed == 1 and second.unchanged == 1
    assert set(_resources(graph)) == {"resource:default/carts"}


def test_a_failing_account_keeps_its_resources_and_is_reported(graph, catalog, aws_env):
    from graph import sources

    _boto(aws_env, "sqs", "eu-west-1").create_queue(QueueName="eu-queue")
    _boto(aws_env, "sqs", "us-east-2").create_queue(QueueName="us-queue")
    accounts = [{"name": "eu", "regions": ["eu-west-1"], "endpoint_url": aws_env,
                 "access_key_secret_name": "eu-key", "secret_key_secret_name": "eu-secret"},
                {"name": "us", "regions": ["us-east-2"], "endpoint_url": aws_env}]
    asked: list[str] = []
    AwsProvider().sync(_ctx(graph, "run1", {"accounts": accounts, "services": ["sqs"]},
                            secret=lambda name: asked.append(name) or "testing"))
    assert asked == ["eu-key", "eu-secret"]      # explicit keys come from secrets, never from options
    assert set(_resources(graph)) == {"resource:default/eu-queue", "resource:default/us-queue"}
    _boto(aws_env, "sqs", "eu-west-1").create_queue(QueueName="eu-queue-2")
    dead = f"http://127.0.0.1:{free_port()}"          # nothing listens there
    accounts[1]["endpoint_url"] = dead
    result = AwsProvider().sync(_ctx(graph, "run2", {"accounts": accounts, "services": ["sqs"]},
                                     secret=lambda name: "testing"))
    assert result.removed == 0 and result.added == 1
    assert set(_resources(graph)) == {"resource:default/eu-queue", "resource:default/eu-queue-2",
                                      "resource:default/us-queue"}
    assert [p["file"] for p in result.rejected] == ["aws:us/us-east-2/sqs"]
    run = sources.get_run(graph, "run2")
    assert run["status"] == "partial" and run["rejected"][0]["file"] == "aws:us/us-east-2/sqs"
    assert "connect" in run["rejected"][0]["reason"].lower()


def test_every_account_failing_fails_the_run_and_deletes_nothing(graph, catalog, aws_env):
    _boto(aws_env, "sqs").create_queue(QueueName="eu-queue")
    AwsProvider().sync(_ctx(graph, "run1", {"regions": ["eu-west-1"], "endpoint_url": aws_env, "services": ["sqs"]}))
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AwsUnavailable, match="every AWS account"):
        AwsProvider().sync(_ctx(graph, "run2", {"regions": ["eu-west-1"], "endpoint_url": dead, "services": ["sqs"]}))
    assert set(_resources(graph)) == {"resource:default/eu-queue"}


def test_aws_plugin_is_registered():
    from plugins.registry import load_registry

    assert "aws" in {p.name for p in load_registry().providers()}
