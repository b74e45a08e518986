"""API tokens: `(:ApiToken)` nodes (not catalog entities), looked up by their public `token_id`.

Only the SHA-256 of a token is stored here; issuing, checking and the token format live in
`app/auth/tokens.py`. Every time is milliseconds since the epoch, given by the caller.

Schema (in graph/schema.py): `CREATE CONSTRAINT api_token_id IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.token_id
IS UNIQUE` -- the lookup index, and what makes two concurrent inserts of one id impossible.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neo4j.exceptions import ConstraintError
import time

from graph import versioned

if TYPE_CHECKING:
    from graph.driver import Graph

SCHEMA_STATEMENT = (
    "CREATE CONSTRAINT api_token_id IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.token_id IS UNIQUE"
)

FIELDS: tuple[str, ...] = (
    "token_id", "token_hash", "name", "owner", "kind", "scopes",
    "created_at", "expires_at", "revoked_at", "last_used_at", "issued_by",
)
REQUIRED: tuple[str, ...] = ("token_id", "token_hash", "name", "owner", "kind", "scopes", "created_at", "expires_at")
PUBLIC_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f != "token_hash")


class DuplicateTokenId(RuntimeError):
    """A token with this token_id already exists (the caller draws a new token)."""


def _as_dict(props: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    out = {f: props.get(f) for f in fields}
    out["scopes"] = list(out.get("scopes") or [])
    return out


def store_token(graph: "Graph", record: dict) -> None:
    """Create one token node; raise DuplicateTokenId if its token_id is taken, ValueError if a field is missing."""
    missing = [f for f in REQUIRED if record.get(f) in (None, "")]
    if missing:
        raise ValueError(f"token record lacks {', '.join(missing)}")
    props = {f: record.get(f) for f in FIELDS}
    props["scopes"] = list(props["scopes"])

    def work(tx):  # pure: may be retried
        row = tx.run(
            "OPTIONAL MATCH (existing:ApiToken {token_id: $props.token_id}) "
            "WITH existing WHERE existing IS NULL "
            "CREATE (t:ApiToken) SET t = $props "
            "RETURN t.token_id AS token_id",
            props=props,
        ).single()
        return row is not None

    try:
        created = graph.write_tx(work)
    except ConstraintError as exc:  # the constraint catches a concurrent insert of the same id
        raise DuplicateTokenId(props["token_id"]) from exc
    if not created:
        raise DuplicateTokenId(props["token_id"])


# A token stops with the account behind it: a disabled local account linked to the owner (user_ref), or the
# local account whose session issued it (issued_by `local:<username>`).
_FIND = """
MATCH (t:ApiToken {token_id: $token_id})
OPTIONAL MATCH (a:Account {disabled: true})
WHERE (t.kind = 'personal' AND a.user_ref = t.owner) OR t.issued_by = 'local:' + a.username
RETURN properties(t) AS t, count(a) > 0 AS account_disabled
"""


def find_token(graph: "Graph", token_id: str) -> dict | None:
    """The full record of one token, hash included (for verification only), or None.

    `account_disabled` says whether a disabled local account stands behind it (its owner or its issuer).
    """
    rows = graph.read(_FIND, token_id=token_id)
    if not rows:
        return None
    return {**_as_dict(rows[0]["t"], FIELDS), "account_disabled": bool(rows[0]["account_disabled"])}


def list_tokens(graph: "Graph", owner: str | None = None) -> list[dict]:
    """Tokens (of one owner, or all), oldest first, never with their hash."""
    rows = graph.read(
        "MATCH (t:ApiToken) WHERE $owner IS NULL OR t.owner = $owner "
        "RETURN properties(t) AS t ORDER BY t.created_at, t.token_id",
        owner=owner,
    )
    return [_as_dict(row["t"], PUBLIC_FIELDS) for row in rows]


def revoke_token(graph: "Graph", token_id: str, now_ms: int | None = None) -> bool:
    """Mark a token revoked; True when it exists (revoking twice keeps the first time), False when unknown."""
    if now_ms is None:
        now_ms = int(time.time() * 1000)

    def work(tx):
        row = tx.run(
            "MATCH (t:ApiToken {token_id: $token_id}) "
            "SET t.revoked_at = coalesce(t.revoked_at, $now) RETURN t.token_id AS token_id",
            token_id=token_id, now=now_ms,
        ).single()
        return row is not None

    revoked = graph.write_tx(work)
    if revoked:
        versioned.bump_access_version(graph)   # every process drops its cached check of this token
    return revoked


def touch_token(graph: "Graph", token_id: str, now_ms: int) -> None:
    """Record a use of the token (last_used_at never moves backwards)."""
    graph.write(
        "MATCH (t:ApiToken {token_id: $token_id}) "
        "WHERE t.last_used_at IS NULL OR t.last_used_at < $now "
        "SET t.last_used_at = $now",
        token_id=token_id, now=now_ms,
    )
