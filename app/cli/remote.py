"""The CLI against a portal's REST API with an API token, instead of straight at Neo4j.

Why: operators run the CLI next to the database; everyone else has a portal URL and a personal token
(`/settings/tokens`). With TRELLIS_URL and TRELLIS_TOKEN (or TRELLIS_TOKEN_FILE) set, `trellis impact`,
`deps` and `report ownership` ask the portal, so the token's owner sees exactly what the portal shows them
(restricted entities counted, not listed) and every call is in the audit log.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import click
import requests

TIMEOUT = 30


def remote() -> tuple[str, str] | None:
    """(base URL, token) when the CLI should use a portal, else None."""
    url = os.environ.get("TRELLIS_URL")
    if not url:
        return None
    token = os.environ.get("TRELLIS_TOKEN")
    token_file = os.environ.get("TRELLIS_TOKEN_FILE")
    if not token and token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.ClickException(f"TRELLIS_TOKEN_FILE={token_file}: {exc.strerror}") from None
    if not token:
        raise click.ClickException("TRELLIS_URL is set but TRELLIS_TOKEN (or TRELLIS_TOKEN_FILE) is not: create a "
                                   "token at <portal>/settings/tokens")
    return url.rstrip("/"), token


def entity_path(ref: str) -> str:
    kind, rest = ref.split(":", 1)
    namespace, name = rest.split("/", 1)
    return "/".join(quote(p, safe="") for p in (kind, namespace, name))


def get(where: tuple[str, str], path: str, params: dict | None = None) -> dict:
    """GET a JSON answer from the portal; any error becomes one line (the API's own message)."""
    base, token = where
    try:
        response = requests.get(f"{base}/api/v1{path}", params=params or {}, timeout=TIMEOUT,
                                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach the portal at {base}: {exc.__class__.__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        message = (body or {}).get("error", {}).get("message") if isinstance(body, dict) else None
        raise click.ClickException(f"{response.status_code} from the portal: {message or response.reason}")
    return body
