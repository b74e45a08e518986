"""The AWS provider: get (plugins.builtin.aws.get) -> transform (.transform) -> ctx.ingest.

Load + cleanup through the context, so a resource that disappears is removed (through the removal guard).
Every (account, region, service) is its own origin: one that fails is reported in the run's problems and its
resources stay (passed as `unavailable`); the others load.
"""
from __future__ import annotations

from plugins.api import IngestResult, Provider, SyncContext
from plugins.builtin.aws.get import fetch
from plugins.builtin.aws.transform import parse_accounts, services_of, transform_all


class AwsUnavailable(RuntimeError):
    """Every configured account/region/service failed: nothing was loaded and nothing is removed."""


class AwsProvider(Provider):
    name = "aws"

    def sync(self, ctx: SyncContext) -> IngestResult:
        """get -> transform -> ctx.ingest for one AWS source; failures per origin in the run's problems."""
        return sync(ctx)


def sync(ctx: SyncContext) -> IngestResult:
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
    return ctx.ingest(entities, target=f"aws {target}", unavailable=set(fetched.failed),
                      problems=[{"file": where, "document": None, "ref": None, "field": None, "reason": why}
                                for where, why in sorted(fetched.failed.items())])
