"""Pytest plugin: a real OIDC identity provider for the sign-in tests.

Register once in tests/conftest.py::

    pytest_plugins = ["tests.idp.fixtures"]

then request ``oidc_provider`` in a test (it is NOT autouse, so sessions that run no auth
tests never start Keycloak).
"""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.idp.provider import NoSuitableJava, Provider, start_provider


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """ONE Keycloak (realm ``trellis``, client ``trellis-portal``, users alice/bob) per session.

    Started on a free 127.0.0.1 port in a temp dir from the cached distribution and realm
    template (first ever run: ~40-80 s to download and build; then ~7-16 s per session),
    stopped at session end. Tests must not change realm-wide settings; log in as a user
    with a fresh ``requests.Session``/browser context to get an independent SSO session.
    """
    try:
        provider = start_provider(tmp_path_factory.mktemp("oidc-provider"))
    except NoSuitableJava as exc:   # an environment gap, said plainly, not a failure of the code under test
        pytest.skip(str(exc))
    try:
        yield provider
    finally:
        provider.stop()
