"""Helpers for tests that drive the portal through Flask's test client."""
from __future__ import annotations

# Tests of catalog features (not of access control) run the portal in development guest mode as an admin:
# every page and endpoint is reachable without signing in. Access-control tests build their own apps.
OPEN_PORTAL = {"TRELLIS_ENV": "development", "TRELLIS_GUEST_ROLE": "admin"}
TEST_CSRF = "test-csrf-token"


def with_csrf(client):
    """A Flask test client whose session holds a CSRF token that every request also sends."""
    with client.session_transaction() as session:
        session["csrf"] = TEST_CSRF
    client.environ_base["HTTP_X_CSRF_TOKEN"] = TEST_CSRF
    return client
