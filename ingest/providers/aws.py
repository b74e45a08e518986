"""AWS: Lambda functions, ECS services, RDS instances, S3 buckets, DynamoDB tables and SQS queues as
Backstage `Resource` entities, linked to components through tags.

get: boto3 per (account, region, service); the endpoint URL is configurable (LocalStack, moto, VPC
endpoints). S3 is listed once per account (bucket listing is global), other services per region.
transform (pure): one raw record -> one Resource descriptor:
- name: the resource's own name made Backstage-safe; resources whose names collide in one run get a short
  hash of their ARN appended (all of them, deterministically);
- annotations `aws.amazon.com/arn`, `aws.amazon.com/region`, `aws.amazon.com/account-id`,
  `aws.amazon.com/service`;
- tag `backstage.io/component` or `component` (comma-separated refs; kind defaults to component) ->
  `spec.dependencyOf`, so the component depends on the resource; tag `owner` (or `backstage.io/owner`) ->
  `spec.owner` (else the source's `default_owner`); tag `system` -> `spec.system`.
load + cleanup: `ingest_entities` (so a resource that disappears is removed, through the removal guard).
Every (account, region, service) is its own origin: one that fails is reported in the run's errors and its
resources stay (passed as `unavailable`); the others load.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

SERVICES = ("lambda", "ecs", "rds", "s3", "dynamodb", "sqs")
RESOURCE_TYPES = {"lambda": "lambda-function", "ecs": "ecs-service", "rds": "database", "s3": "s3-bucket",
                  "dynamodb": "dynamodb-table", "sqs": "queue"}
ANNOTATION_PREFIX = "aws.amazon.com/"
COMPONENT_TAGS = ("backstage.io/component", "component")
OWNER_TAGS = ("backstage.io/owner", "owner")
SYSTEM_TAGS = ("backstage.io/system", "system")
_NAME_OK = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Account:
    """One configured account: `name` labels its origins (stable even when the account cannot be reached)."""

    name: str
    regions: tuple[str, ...]
    account_id: str | None = None
    endpoint_url: str | None = None
    role_arn: str | None = None
    access_key_secret_name: str | None = None
    secret_key_secret_name: str | None = None


@dataclass
class Fetched:
    records: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)      # origin -> reason


def origin(account: str, region: str, service: str) -> str:
    return f"aws:{account}/{region}/{service}"


def parse_accounts(options: dict) -> list[Account]:
    """`accounts: [{name, regions, account_id?, endpoint_url?, role_arn?, access_key_secret_name?,
    secret_key_secret_name?}]`, or a single account from top-level `regions` (+ the same keys)."""
    raw = options.get("accounts")
    if raw is None:
        raw = [{**{k: v for k, v in options.items() if k != "accounts"}, "name": options.get("name", "default")}]
    if not isinstance(raw, list) or not raw:
        raise ValueError("the aws source needs `accounts` (a list) or top-level `regions`")
    out, seen = [], set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"accounts[{i}] must be a mapping")
        name = str(item.get("name") or item.get("account_id") or "")
        regions = item.get("regions") or options.get("regions")
        if not name:
            raise ValueError(f"accounts[{i}] needs a `name` (or `account_id`)")
        if name in seen:
            raise ValueError(f"account name {name!r} appears twice")
        if not isinstance(regions, list) or not regions or not all(isinstance(r, str) and r for r in regions):
            raise ValueError(f"accounts[{i}] ({name}) needs `regions`, a list of region names")
        seen.add(name)
        out.append(Account(name, tuple(regions), _opt(item.get("account_id")),
                           _opt(item.get("endpoint_url") or options.get("endpoint_url")), _opt(item.get("role_arn")),
                           _opt(item.get("access_key_secret_name")), _opt(item.get("secret_key_secret_name"))))
    return out


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def services_of(options: dict) -> tuple[str, ...]:
    chosen = options.get("services") or list(SERVICES)
    unknown = [s for s in chosen if s not in SERVICES]
    if unknown:
        raise ValueError(f"unknown aws services {unknown}; known: {', '.join(SERVICES)}")
    return tuple(chosen)


# ------------------------------------------------------------------------------------------ get

def session(account: Account, secret: Callable[[str], str]):
    """A boto3 session for the account: explicit keys from secrets, else the default credential chain,
    then the role assumed if `role_arn` is set."""
    import boto3

    kwargs: dict[str, Any] = {}
    if account.access_key_secret_name and account.secret_key_secret_name:
        kwargs = {"aws_access_key_id": secret(account.access_key_secret_name),
                  "aws_secret_access_key": secret(account.secret_key_secret_name)}
    base = boto3.session.Session(**kwargs)
    if not account.role_arn:
        return base
    sts = base.client("sts", region_name=account.regions[0], endpoint_url=account.endpoint_url)
    creds = sts.assume_role(RoleArn=account.role_arn, RoleSessionName="trellis-sync")["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"])


def _client(sess, service: str, region: str, account: Account):
    from botocore.config import Config

    config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10, read_timeout=30)
    return sess.client(service, region_name=region, endpoint_url=account.endpoint_url, config=config)


def _tag_list(items: Iterable[dict] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(t.get(key)): str(t.get(value, "")) for t in items or [] if t.get(key) is not None}


def get_lambda(c) -> list[dict]:
    out = []
    for page in c.get_paginator("list_functions").paginate():
        for fn in page.get("Functions", []):
            tags = c.list_tags(Resource=fn["FunctionArn"]).get("Tags") or {}
            out.append({"name": fn["FunctionName"], "arn": fn["FunctionArn"], "tags": tags,
                        "description": fn.get("Description") or "", "detail": fn.get("Runtime") or ""})
    return out


def get_ecs(c) -> list[dict]:
    out = []
    for page in c.get_paginator("list_clusters").paginate():
        for cluster in page.get("clusterArns", []):
            arns = [a for p in c.get_paginator("list_services").paginate(cluster=cluster) for a in p.get("serviceArns", [])]
            for start in range(0, len(arns), 10):   # describe_services takes at most 10
                described = c.describe_services(cluster=cluster, services=arns[start:start + 10], include=["TAGS"])
                for svc in described.get("services", []):
                    out.append({"name": svc["serviceName"], "arn": svc["serviceArn"],
                                "tags": _tag_list(svc.get("tags"), "key", "value"), "description": "",
                                "detail": cluster.rsplit("/", 1)[-1]})
    return out


def get_rds(c) -> list[dict]:
    out = []
    for page in c.get_paginator("describe_db_instances").paginate():
        for db in page.get("DBInstances", []):
            out.append({"name": db["DBInstanceIdentifier"], "arn": db["DBInstanceArn"],
                        "tags": _tag_list(db.get("TagList")), "description": "",
                        "detail": f"{db.get('Engine', '')} {db.get('EngineVersion', '')}".strip()})
    return out


def get_s3(c) -> list[dict]:
    from botocore.exceptions import ClientError

    out = []
    for bucket in c.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        try:
            tags = _tag_list(c.get_bucket_tagging(Bucket=name).get("TagSet"))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchTagSet", "NoSuchTagSetError"):
                raise
            tags = {}
        region = c.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        out.append({"name": name, "arn": f"arn:aws:s3:::{name}", "tags": tags, "description": "",
                    "detail": "", "region": region})
    return out


def get_dynamodb(c) -> list[dict]:
    out = []
    for page in c.get_paginator("list_tables").paginate():
        for table in page.get("TableNames", []):
            arn = c.describe_table(TableName=table)["Table"]["TableArn"]
            tags = _tag_list(c.list_tags_of_resource(ResourceArn=arn).get("Tags"))
            out.append({"name": table, "arn": arn, "tags": tags, "description": "", "detail": ""})
    return out


def get_sqs(c) -> list[dict]:
    out = []
    for page in c.get_paginator("list_queues").paginate():
        for url in page.get("QueueUrls", []):
            arn = c.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            tags = c.list_queue_tags(QueueUrl=url).get("Tags") or {}
            out.append({"name": url.rstrip("/").rsplit("/", 1)[-1], "arn": arn, "tags": tags, "description": "",
                        "detail": ""})
    return out


GETTERS: dict[str, Callable[[Any], list[dict]]] = {
    "lambda": get_lambda, "ecs": get_ecs, "rds": get_rds, "s3": get_s3, "dynamodb": get_dynamodb, "sqs": get_sqs,
}


def _why(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def fetch(accounts: list[Account], services: tuple[str, ...], secret: Callable[[str], str],
          progress: Callable[[str, int, int], None] = lambda s, d, t: None) -> Fetched:
    """Raw records from every (account, region, service); failures recorded per origin, never raised."""
    fetched = Fetched()
    parts = [(a, r, s) for a in accounts for s in services for r in (a.regions[:1] if s == "s3" else a.regions)]
    sessions: dict[str, Any] = {}
    account_ids: dict[str, str] = {}
    for done, (account, region, service) in enumerate(parts):
        where = origin(account.name, "global" if service == "s3" else region, service)
        progress("reading aws", done, len(parts))
        try:
            if account.name not in sessions:
                sessions[account.name] = session(account, secret)
            sess = sessions[account.name]
            if account.name not in account_ids:
                account_ids[account.name] = account.account_id or _client(sess, "sts", region, account) \
                    .get_caller_identity()["Account"]
            items = GETTERS[service](_client(sess, service, region, account))
        except Exception as exc:   # one account/region/service failing must not stop the others
            fetched.failed[where] = _why(exc)
            continue
        for item in items:
            fetched.records.append({**item, "service": service, "region": item.get("region") or region,
                                    "account": account_ids[account.name], "origin": where})
    progress("reading aws", len(parts), len(parts))
    return fetched


# ------------------------------------------------------------------------------------------ transform

def safe_name(name: str, limit: int = 63) -> str:
    """A Backstage entity name from an AWS name: allowed characters only, alphanumeric ends, <= 63 chars."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-_.")[:limit].strip("-_.")
    return cleaned or "unnamed"


def _tag(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    lower = {k.lower(): v for k, v in tags.items()}
    for key in keys:
        value = (lower.get(key) or "").strip()
        if value:
            return value
    return None


def _component_refs(value: str | None) -> list[str]:
    refs = []
    for part in (value or "").split(","):
        part = part.strip()
        if part:
            refs.append(part if ":" in part else f"component:{part}")
    return refs


def transform(record: dict, *, name: str, namespace: str = "default", default_owner: str = "unknown") -> dict:
    """One raw AWS record -> one Resource descriptor (pure)."""
    tags = {str(k): str(v) for k, v in (record.get("tags") or {}).items()}
    spec: dict[str, Any] = {"type": RESOURCE_TYPES[record["service"]],
                            "owner": _tag(tags, OWNER_TAGS) or default_owner}
    components = _component_refs(_tag(tags, COMPONENT_TAGS))
    if components:
        spec["dependencyOf"] = components
    system = _tag(tags, SYSTEM_TAGS)
    if system:
        spec["system"] = system
    metadata: dict[str, Any] = {
        "name": name, "namespace": namespace, "title": record["name"],
        "annotations": {f"{ANNOTATION_PREFIX}arn": record["arn"], f"{ANNOTATION_PREFIX}region": record["region"],
                        f"{ANNOTATION_PREFIX}account-id": str(record["account"]),
                        f"{ANNOTATION_PREFIX}service": record["service"]},
        "tags": ["aws", record["service"]],
    }
    description = record.get("description") or (f"{record['service']} {record.get('detail')}".strip()
                                                 if record.get("detail") else "")
    if description:
        metadata["description"] = description
    return {"apiVersion": "backstage.io/v1alpha1", "kind": "Resource", "metadata": metadata, "spec": spec}


def transform_all(records: list[dict], *, namespace: str = "default",
                  default_owner: str = "unknown") -> list[tuple[str, dict]]:
    """(origin, descriptor) for every record; colliding names get an ARN hash suffix (pure, deterministic)."""
    base = [safe_name(r["name"]).lower() for r in records]
    counts: dict[str, int] = {}
    for b in base:
        counts[b] = counts.get(b, 0) + 1
    out = []
    for record, b in zip(records, base):
        name = safe_name(record["name"])
        if counts[b] > 1:
            suffix = hashlib.sha256(record["arn"].encode()).hexdigest()[:8]
            name = f"{safe_name(record['name'], 63 - len(suffix) - 1)}-{suffix}"
        out.append((record["origin"], transform(record, name=name, namespace=namespace, default_owner=default_owner)))
    return out


# ------------------------------------------------------------------------------------------ sync

class AwsUnavailable(RuntimeError):
    """Every configured account/region/service failed: nothing was loaded and nothing is removed."""


def sync(ctx: "SyncContext") -> "IngestResult":
    """get -> transform -> load + cleanup (ingest_entities) for one AWS source; failures per origin in errors."""
    from ingest.providers.ci.runs import add_problems

    accounts = parse_accounts(ctx.options)
    services = services_of(ctx.options)
    fetched = fetch(accounts, services, ctx.secret, ctx.progress)
    parts = sum(len(a.regions) * (len(services) - ("s3" in services)) + ("s3" in services) for a in accounts)
    if fetched.failed and len(fetched.failed) == parts:
        first = next(iter(sorted(fetched.failed.items())))
        raise AwsUnavailable(f"every AWS account/region failed ({len(fetched.failed)}), e.g. {first[0]}: {first[1]}")
    entities = transform_all(fetched.records, namespace=str(ctx.options.get("namespace") or "default"),
                             default_owner=str(ctx.options.get("default_owner") or "unknown"))
    target = ", ".join(f"{a.name}:{'/'.join(a.regions)}" for a in accounts)
    result = ctx.ingest(entities, target=f"aws {target}", unavailable=set(fetched.failed))
    add_problems(ctx.graph, result, [{"file": where, "document": None, "ref": None, "field": None, "reason": why}
                                     for where, why in sorted(fetched.failed.items())])
    return result


if TYPE_CHECKING:
    from ingest.sync import IngestResult
    from plugins.api import SyncContext
