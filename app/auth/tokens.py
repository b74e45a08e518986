"""Personal and service API tokens: shown once, stored hashed, scoped, expiring, revocable.

A token is `trl_` + 43 url-safe characters (`secrets.token_urlsafe(32)`, 256 random bits). The first 12 of
those characters are its public `token_id` (lookup key, safe to show and log); only `sha256(token)` is stored.
A fast hash is right here: the secret is 256 random bits, not a password, so there is nothing to brute-force.

`verify_token` answers with the stored record or raises `TokenRejected(reason)`; an unknown id and a wrong
secret for a known id give the same reason (`unknown`), so a caller cannot learn which ids exist, and the
secret is checked before revocation/expiry are reported. A token stops working while a disabled local account
stands behind it (linked to its owner, or the account whose session issued it): disabling an account must not
leave its API access running until the tokens expire.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import unicodedata

from app.auth.cache import StampedCache
from graph import tokens as store
from graph.model import RefError, parse_ref

PREFIX = "trl_"
SECRET_LENGTH = 43  # len(secrets.token_urlsafe(32))


def _secret() -> str:
    """43 url-safe random characters that never start with `-`: the token id is the first 12, and an id
    starting with `-` would read as an option to `trellis tokens revoke` (1 token in 64 could not be revoked
    without `--`)."""
    while True:
        secret = secrets.token_urlsafe(32)
        if not secret.startswith("-"):
            return secret
ID_LENGTH = 12
TOKEN_LENGTH = len(PREFIX) + SECRET_LENGTH
SCOPES: tuple[str, ...] = ("catalog:read", "catalog:write", "reports:read", "admin")
ADMIN_SCOPE = "admin"
KINDS: tuple[str, ...] = ("personal", "service")
MIN_TTL_DAYS, MAX_TTL_DAYS = 1, 365
MAX_NAME_LENGTH = 100
DAY_MS = 86_400_000

# Reasons carried by TokenRejected.
MALFORMED, UNKNOWN, REVOKED, EXPIRED, WRONG_SCOPE = "malformed", "unknown", "revoked", "expired", "wrong scope"
DISABLED = "account disabled"

_TOKEN_RE = re.compile(r"trl_[A-Za-z0-9_-]{43}", re.ASCII)
_TOKEN_ID_RE = re.compile(r"[A-Za-z0-9_-]{12}", re.ASCII)
_SERVICE_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?", re.ASCII)
_ISSUE_ATTEMPTS = 5


class TokenRejected(Exception):
    """A presented token is not acceptable; `reason` is one of malformed/unknown/revoked/expired/account
    disabled/wrong scope."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def current_ms() -> int:
    return int(time.time() * 1000)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_token_id(value: str) -> bool:
    return isinstance(value, str) and _TOKEN_ID_RE.fullmatch(value) is not None


def parse_token(presented: object) -> str | None:
    """The token_id of a well-formed token string, else None (never raises, whatever is presented)."""
    if not isinstance(presented, str) or len(presented) != TOKEN_LENGTH or not presented.isascii():
        return None
    if _TOKEN_RE.fullmatch(presented) is None:
        return None
    return presented[len(PREFIX):len(PREFIX) + ID_LENGTH]


def bearer_token(header: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <token>` header value (scheme case-insensitive), else None."""
    if not header or not isinstance(header, str):
        return None
    parts = header.strip().split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


# ------------------------------------------------------------------------------------ validation


def normalize_owner(owner: str, kind: str) -> str:
    """`service:<name>` for service tokens, a canonical `user:namespace/name` ref for personal ones."""
    if not isinstance(owner, str) or not owner.strip():
        raise ValueError("owner is required")
    owner = owner.strip()
    if kind == "service":
        name = owner[len("service:"):] if owner.lower().startswith("service:") else owner
        name = name.lower()
        if not _SERVICE_RE.fullmatch(name):
            raise ValueError(
                f"invalid service name {name!r}: use 1-64 of a-z, 0-9, '.', '_', '-' (e.g. service:ci-deployer)"
            )
        return f"service:{name}"
    if owner.lower().startswith("service:"):
        raise ValueError("a personal token's owner must be a user ref; use kind 'service' for service:<name>")
    try:
        ref = parse_ref(owner, default_kind="user")
    except RefError as exc:
        raise ValueError(f"invalid owner {owner!r}: {exc}") from exc
    if ref.kind != "user":
        raise ValueError(f"a personal token's owner must be a user ref, not {ref}")
    return str(ref)


def normalize_scopes(scopes) -> list[str]:
    if isinstance(scopes, str) or not scopes:
        raise ValueError(f"give at least one scope as a list; known scopes: {', '.join(SCOPES)}")
    wanted = set()
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}")
        wanted.add(scope)
    return [s for s in SCOPES if s in wanted]


def _validate_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a token needs a name (what it is for)")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"token name longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ValueError("token name contains control characters")
    return name


def _validate_ttl(ttl_days: int) -> int:
    if isinstance(ttl_days, bool) or not isinstance(ttl_days, int):
        raise ValueError("ttl_days must be a whole number of days")
    if not MIN_TTL_DAYS <= ttl_days <= MAX_TTL_DAYS:
        raise ValueError(f"ttl_days must be between {MIN_TTL_DAYS} and {MAX_TTL_DAYS}")
    return ttl_days


# ------------------------------------------------------------------------------------ issue / verify


def issue_token(graph, *, name: str, owner: str, kind: str, scopes, ttl_days: int = 90,
                now: int | None = None, issued_by: str | None = None) -> tuple[str, dict]:
    """Create a token; return its plaintext (the only time it exists) and the stored record without the hash.

    `issued_by` is the principal id of the session that asked for it (`local:alice`, `oidc:<sub>`), if any.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    name = _validate_name(name)
    owner = normalize_owner(owner, kind)
    scopes = normalize_scopes(scopes)
    ttl_days = _validate_ttl(ttl_days)
    created = current_ms() if now is None else now
    for _ in range(_ISSUE_ATTEMPTS):
        token = PREFIX + _secret()
        token_id = parse_token(token)
        assert token_id is not None  # token_urlsafe(32) is always 43 url-safe characters
        record = {
            "token_id": token_id,
            "token_hash": hash_token(token),
            "name": name,
            "owner": owner,
            "kind": kind,
            "scopes": scopes,
            "created_at": created,
            "expires_at": created + ttl_days * DAY_MS,
            "revoked_at": None,
            "last_used_at": None,
            "issued_by": issued_by,
        }
        try:
            store.store_token(graph, record)
        except store.DuplicateTokenId:
            continue  # 72 random bits of id: practically never
        public = {k: v for k, v in record.items() if k != "token_hash"}
        return token, public
    raise RuntimeError("could not draw an unused token id")


def has_scope(granted, required: str) -> bool:
    return ADMIN_SCOPE in granted or required in granted


# Verified token records by (token_id, sha256 of the presented token): only a token that matched is kept, so
# a wrong secret for a known id is read and refused every time. Revocation and disabled accounts reach every
# process within a second (app/auth/cache.py).
_records = StampedCache()


def authenticate_token(graph, presented: str, now_ms: int | None = None, *, touch: bool = True) -> dict:
    """The token's record (without hash) if `presented` is a valid, unrevoked, unexpired token; else
    TokenRejected. Scopes are checked by the caller (the policy knows what each request needs)."""
    token_id = parse_token(presented)
    if token_id is None:
        raise TokenRejected(MALFORMED)
    digest = hash_token(presented)
    record = _records.get_or_compute(
        graph, (token_id, digest), lambda: store.find_token(graph, token_id),
        keep=lambda found: found is not None and hmac.compare_digest(found.get("token_hash") or "", digest))
    if record is None or not record.get("token_hash"):
        raise TokenRejected(UNKNOWN)
    if not hmac.compare_digest(record["token_hash"], digest):
        raise TokenRejected(UNKNOWN)
    record = dict(record)   # the cached one stays as read
    now = current_ms() if now_ms is None else now_ms
    if record.get("revoked_at") is not None:
        raise TokenRejected(REVOKED)
    if record.get("expires_at") is None or now >= record["expires_at"]:
        raise TokenRejected(EXPIRED)
    if record.get("account_disabled"):
        raise TokenRejected(DISABLED)
    if touch:
        _touch(graph, record, now)
    return {k: v for k, v in record.items() if k not in ("token_hash", "account_disabled")}


def _touch(graph, record: dict, now: int) -> None:
    store.touch_token(graph, record["token_id"], now)
    record["last_used_at"] = max(now, record.get("last_used_at") or 0)


def verify_token(graph, presented: str, required_scope: str, now_ms: int | None = None) -> dict:
    """The token's record (without hash) if `presented` is valid now for `required_scope`; else TokenRejected."""
    if required_scope not in SCOPES:
        raise ValueError(f"unknown scope {required_scope!r}")
    now = current_ms() if now_ms is None else now_ms
    record = authenticate_token(graph, presented, now, touch=False)
    if not has_scope(record.get("scopes") or [], required_scope):
        raise TokenRejected(WRONG_SCOPE)
    _touch(graph, record, now)
    return record


def token_status(record: dict, now: int | None = None) -> str:
    """active / revoked / expired, for listings."""
    now = current_ms() if now is None else now
    if record.get("revoked_at") is not None:
        return "revoked"
    if record.get("expires_at") is None or now >= record["expires_at"]:
        return "expired"
    return "active"
