"""`trellis tokens create|list|revoke`: personal and service API tokens."""
from __future__ import annotations

from datetime import datetime, timezone

import click

from app.auth import tokens as api_tokens
from app.cli.catalog_cmd import emit_json, fail, open_graph
from graph import tokens as token_store


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _owner_filter(owner: str) -> str:
    kind = "service" if owner.strip().lower().startswith("service:") else "personal"
    try:
        return api_tokens.normalize_owner(owner, kind)
    except ValueError as exc:
        fail(str(exc))
    raise AssertionError  # unreachable


@click.group(name="tokens")
def tokens() -> None:
    """Personal and service API tokens (shown once, stored hashed, scoped, expiring, revocable)."""


@tokens.command("create")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--owner", required=True, help="User ref (user:default/alice) or, with --service, a service name.")
@click.option("--service", is_flag=True, help="A service token (owner service:<name>) rather than a personal one.")
@click.option("--scope", "scopes", multiple=True, required=True,
              help=f"Repeatable; one of {', '.join(api_tokens.SCOPES)} ('admin' implies all).")
@click.option("--days", type=int, default=90, show_default=True,
              help=f"Lifetime in days ({api_tokens.MIN_TTL_DAYS}-{api_tokens.MAX_TTL_DAYS}).")
@click.option("--json", "as_json", is_flag=True, help="Print {token, token_id, expires_at, scopes} as JSON.")
def create(name: str, owner: str, service: bool, scopes: tuple[str, ...], days: int, as_json: bool) -> None:
    """Issue a token and print it: this is the only time it is shown."""
    with open_graph() as graph:
        try:
            token, record = api_tokens.issue_token(
                graph, name=name, owner=owner, kind="service" if service else "personal",
                scopes=list(scopes), ttl_days=days,
            )
        except ValueError as exc:
            fail(str(exc))
    if as_json:
        emit_json({"token": token, "token_id": record["token_id"], "expires_at": record["expires_at"],
                   "scopes": record["scopes"]})
        return
    click.echo(token)
    click.echo(
        f"token_id {record['token_id']}  owner {record['owner']}  scopes {','.join(record['scopes'])}  "
        f"expires {_when(record['expires_at'])}",
        err=True,
    )
    click.echo("Copy this token now: it is stored hashed and will not be shown again.", err=True)


@tokens.command("list")
@click.option("--owner", default=None, help="Only this owner's tokens (user ref or service:<name>).")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON (never the secret or its hash).")
def list_cmd(owner: str | None, as_json: bool) -> None:
    """List tokens (ids and metadata only)."""
    owner = _owner_filter(owner) if owner else None
    with open_graph() as graph:
        records = token_store.list_tokens(graph, owner=owner)
    now = api_tokens.current_ms()
    for record in records:
        record["status"] = api_tokens.token_status(record, now)
    if as_json:
        emit_json(records)
        return
    if not records:
        click.echo("no tokens")
        return
    header = ("TOKEN_ID", "STATUS", "KIND", "OWNER", "NAME", "SCOPES", "EXPIRES", "LAST USED")
    rows = [
        (r["token_id"], r["status"], r["kind"], r["owner"], r["name"], ",".join(r["scopes"]),
         _when(r["expires_at"]), _when(r["last_used_at"]))
        for r in records
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        click.echo("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


@tokens.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token by its token_id (the 12 characters after `trl_`)."""
    if not api_tokens.is_token_id(token_id):
        fail(f"{token_id!r} is not a token id (the 12 characters after 'trl_')")
    with open_graph() as graph:
        found = token_store.revoke_token(graph, token_id, api_tokens.current_ms())
    if not found:
        fail(f"no token with id {token_id}")
    click.echo(f"revoked {token_id}")
