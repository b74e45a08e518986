"""Integrations: the Git hosts and plain HTTPS hosts this server may read from, and with which secret.

The one outbound allow-list (git clones, TechDocs `url:` refs, provider API clients, URL readers):
`load_integrations()` reads `integrations:` (and the `git:` clone limits) from TRELLIS_CONFIG into typed
objects; `Integrations.integration_for(url)` finds the integration of a URL; `check_url` refuses anything
else before contacting it. Importable by app/, plugins and docs-builder; imports nothing above ingest/.
"""
from __future__ import annotations

from ingest.integrations.config import (
    GIT_USERNAMES, KINDS, PLAIN, GitLimits, Integration, Integrations, IntegrationsError, load_integrations,
    parse_integrations,
)
from ingest.integrations.policy import UNREACHABLE, OutboundRefused, check_url, refusal
from plugins.urls import BadUrl, Origin, normalise_url, origin_of, same_origin

__all__ = [
    "BadUrl", "GIT_USERNAMES", "GitLimits", "Integration", "Integrations", "IntegrationsError", "KINDS",
    "Origin", "OutboundRefused", "PLAIN", "UNREACHABLE", "check_url", "load_integrations", "normalise_url",
    "origin_of", "parse_integrations", "refusal", "same_origin",
]
