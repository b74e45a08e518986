"""AWS get: boto3 per (account, region, service); the endpoint URL is configurable (LocalStack, moto, VPC
endpoints). S3 is listed once per account (bucket listing is global), other services per region. A failing
(account, region, service) is recorded with its reason, never raised: the others still load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from plugins.builtin.aws.transform import Account, origin


@dataclass
class Fetched:
    records: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)      # origin -> reason


def session(account: Account, secret: Callable[[str], str]):
    """A boto3 session for the account: explicit keys from secrets, else the default credential chain,
    then the role assumed if `role_arn` is set."""
    import boto3  # noqa: PLC0415 -- heavy: only a run of an aws source needs boto3, not every process loading plugins

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
    from botocore.config import Config  # noqa: PLC0415 -- heavy: see session()

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
    from botocore.exceptions import ClientError  # noqa: PLC0415 -- heavy: see session()

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
