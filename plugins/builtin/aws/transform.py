"""AWS: pure transforms from raw AWS records to Backstage `Resource` entities, and the source's options.

One raw record -> one Resource descriptor:
- name: the resource's own name made Backstage-safe; resources whose names collide in one run get a short
  hash of their ARN appended (all of them, deterministically);
- annotations `aws.amazon.com/arn`, `aws.amazon.com/region`, `aws.amazon.com/account-id`,
  `aws.amazon.com/service`;
- tag `backstage.io/component` or `component` (comma-separated refs; kind defaults to component) ->
  `spec.dependencyOf`, so the component depends on the resource; tag `owner` (or `backstage.io/owner`) ->
  `spec.owner` (else the source's `default_owner`); tag `system` -> `spec.system`.
No network, no graph: unit-tested on records alone (tests/test_aws.py).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

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
