"""Integrations for tests whose fake API or git host listens on a loopback port.

Why: every provider client and clone goes only to configured integration hosts (ingest.integrations), so a
test that stands up a fake GitHub/GitLab configures it as the operator would: a typed integration whose
`apiBaseUrl` is the fake's `http://127.0.0.1:<port>` address.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from ingest.integrations import Integrations, parse_integrations


def integration_section(url: str, kind: str = "github") -> dict:
    """The `integrations:` section naming the server at `url` (an API base URL) as a `kind` integration."""
    host = urlsplit(url).netloc
    if kind == "allow":
        return {"allow": [f"{urlsplit(url).scheme}://{host}"]}
    key = "baseUrl" if kind in ("gitea",) else "apiBaseUrl"
    return {kind: [{"host": host, key: url.rstrip("/")}]}


def integrations_for(url: str, kind: str = "github") -> Integrations:
    """Parsed integrations with the server at `url` as the only configured one."""
    return parse_integrations({"integrations": integration_section(url, kind)})
