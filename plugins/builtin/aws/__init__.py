"""Built-in AWS plugin: the `aws` provider (Lambda, ECS, RDS, S3, DynamoDB, SQS as Resource entities).

Source options: `accounts: [{name, regions, account_id?, endpoint_url?, role_arn?, access_key_secret_name?,
secret_key_secret_name?}]` (or top-level `regions` for one account), `services` (default all six), `namespace`,
`default_owner` (owner of resources without an `owner` tag; default `unknown`), `endpoint_url`.
Keys come from `ctx.secret(<name>)` when `access_key_secret_name`/`secret_key_secret_name` are set, else from boto3's
default credential chain (environment, instance role).
"""
from __future__ import annotations

from plugins.builtin.aws.provider import AwsProvider


def register(registry) -> None:
    """Entry point `trellis.plugins` -> `aws`."""
    registry.add_provider(AwsProvider())
