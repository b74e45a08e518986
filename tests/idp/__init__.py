"""A real OpenID Connect identity provider (Keycloak) that tests start themselves.

See README.md in this directory. Pytest fixture: ``oidc_provider`` in ``tests.idp.fixtures``.
"""

from __future__ import annotations

__all__ = ["Provider", "ProviderError", "User", "browser_session", "start_provider"]


def __getattr__(name: str):  # lazy (PEP 562): keeps `python -m tests.idp.provider` warning-free
    if name in __all__:
        from tests.idp import provider

        return getattr(provider, name)
    raise AttributeError(name)
