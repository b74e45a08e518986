"""The outbound allow-list: may this server contact that URL, and with which credential?

One rule for git clones, TechDocs `url:` refs, provider API clients and URL readers: only hosts of a
configured integration (`integrations:` in TRELLIS_CONFIG), over https, or ssh to a typed integration's
host, or plain http where that integration's configuration writes an `http://` URL out. Local paths and
`file://` URLs are not network requests; callers decide whether they are allowed at all (operators' CLI and
configured sources: yes; registrations by people: under configured location roots only; TechDocs refs: no).

A refusal reads the same whatever lies behind the address: nothing is contacted before the decision, and
the message names the rule, never whether the host or port answered.
"""
from __future__ import annotations

import logging

from ingest.integrations.config import PLAIN, Integration, Integrations
from plugins.urls import BadUrl, origin_of, path_of

log = logging.getLogger(__name__)

# What a user sees when a fetch failed for a reason that could tell them about the network behind the server
# (refused, timed out, name not found, TLS failure...): one sentence for all of them. Details go to the log.
UNREACHABLE = ("could not be read: it does not exist, is not reachable from this server, or needs credentials "
               "this server does not have (the server log has the details)")


class OutboundRefused(RuntimeError):
    """The URL is not on the outbound allow-list; nothing was contacted."""


def refusal(url: str, integrations: Integrations, *, what: str = "this server") -> str:
    """Why `url` is refused: the rule, the configured hosts, nothing about reachability."""
    configured = ", ".join(sorted({e.host for e in integrations.entries if not e.default})) or "none"
    return (f"{url} is not on a configured integration host; {what} reads only from the hosts listed under "
            f"`integrations:` in TRELLIS_CONFIG (configured: {configured}; plus the public github.com, "
            f"gitlab.com, bitbucket.org and dev.azure.com)")


def check_url(url: str, integrations: Integrations, *, what: str = "this server") -> Integration:
    """The integration `url` may be fetched through, else OutboundRefused (nothing is contacted either way).

    https always; ssh only to a typed integration's host (never a plain allowed host); http only where the
    integration's own configuration says http://; nothing else (git://, ftp://, file:// ...).
    """
    try:
        origin = origin_of(url)
        path = path_of(url)
    except BadUrl as exc:
        raise OutboundRefused(f"{url!r} is not a URL this server may fetch: {exc}") from None
    if origin.scheme not in ("https", "http", "ssh"):
        raise OutboundRefused(f"{url} uses {origin.scheme}://, which this server does not fetch; use an https "
                              f"(or ssh) URL on a configured integration host")
    entry = integrations.integration_for(url)
    if entry is None or not entry.covers(origin, path):
        raise OutboundRefused(refusal(url, integrations, what=what))
    if origin.scheme == "ssh" and entry.kind == PLAIN:
        raise OutboundRefused(refusal(url, integrations, what=what))
    return entry
