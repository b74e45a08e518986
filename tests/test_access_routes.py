"""Every route checks permissions: a guard over the app's whole URL map, so a route added later without an
access check fails here. Anonymous callers get 401 (API) or the sign-in redirect (pages); a signed-in person
with no role gets 403 (or 404 where the answer would reveal an entity) from every non-public route."""
from __future__ import annotations

import pytest

from app import create_app
from app.auth.principal import SESSION_KEY, Principal
from app.auth.session import PUBLIC_ENDPOINTS

SAFE = {"GET"}


@pytest.fixture(scope="module")
def guarded(graph_module, neo4j_uri):
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development",
                      "SECRET_KEY": "r" * 40, "TRELLIS_DEFAULT_ROLE": None})
    yield app
    app.extensions["trellis.graph"].close()


def _routes(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in PUBLIC_ENDPOINTS or getattr(view, "trellis_public", False):
            continue
        args = {name: "x" for name in rule.arguments}
        url = _build(rule, args)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def _build(rule, args):
    from werkzeug.routing import MapAdapter  # noqa: F401  (documenting where building happens)

    adapter = rule.map.bind("localhost")
    return adapter.build(rule.endpoint, args, append_unknown=False)


def test_there_are_routes_to_guard(guarded):
    assert len(list(_routes(guarded))) > 40


def test_anonymous_is_refused_everywhere(guarded):
    client = guarded.test_client()
    for endpoint, method, url in _routes(guarded):
        response = client.open(url, method=method)
        if url.startswith("/api/"):
            assert response.status_code == 401, (endpoint, method, url, response.status_code)
        else:
            assert response.status_code == 302 and "/auth/login" in response.headers["Location"], (
                endpoint, method, url, response.status_code)


def test_signed_in_without_a_role_is_refused_everywhere(guarded):
    client = guarded.test_client()
    principal = Principal(provider="oidc", subject="nobody", username="nobody")
    with client.session_transaction() as session:
        session[SESSION_KEY] = principal.to_session()
        session["_user_id"] = principal.id
        session["csrf"] = "t"
    client.environ_base["HTTP_X_CSRF_TOKEN"] = "t"
    leaks = []
    for endpoint, method, url in _routes(guarded):
        response = client.open(url, method=method, json={} if method not in SAFE else None)
        if response.status_code not in (403, 404):
            leaks.append((endpoint, method, url, response.status_code))
    assert leaks == [], "\n".join(map(str, leaks))
