"""Shared helpers for the sign-in tests (no tests here): the app under test, a live server, forms, audit.

The app is the real `create_app` with `app.auth.signin.init_signin` applied (idempotent, so it also works
once create_app wires sign-in itself). A LoginManager is added only when the app has none yet.
"""
from __future__ import annotations

import re
import textwrap
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin


SECRET_KEY = "signin-tests-secret-key-0123456789abcdef"

USERS_YAML = textwrap.dedent("""
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata:
      name: alice
      annotations:
        github.com/user-login: alice-gh
    spec:
      profile: {displayName: Alice Anderson, email: Alice@Example.com}
      memberOf: [platform-team]
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata:
      name: carol
      annotations:
        github.com/user-login: octocat
    spec:
      profile: {displayName: Carol Catalog, email: carol@corp.example}
      memberOf: [platform-team]
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata:
      name: dave
    spec:
      profile: {email: shared@corp.example}
      memberOf: []
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata:
      name: erin
    spec:
      profile: {email: shared@corp.example}
      memberOf: []
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata:
      name: platform-team
    spec:
      type: team
      children: []
""")


def load_users(graph, tmp_path: Path) -> None:
    """A small catalog of users: alice (email alice@example.com, login alice-gh), carol (octocat), two
    users sharing one email (ambiguous), and a group."""
    from ingest.sync import ingest

    folder = tmp_path / "people"
    folder.mkdir(exist_ok=True)
    (folder / "catalog-info.yaml").write_text(USERS_YAML)
    result = ingest(graph, str(folder))
    assert result.added == 5 and not result.rejected, result.as_json()


def make_app(neo4j_uri: str, auth: dict, **extra):
    """The portal with sign-in configured by `auth` (the `auth:` section of the config file)."""
    from flask import session
    from flask_login import LoginManager

    from app import create_app
    from app.auth.principal import SESSION_KEY, Principal
    from app.auth.signin import init_signin

    config = {"NEO4J_URI": neo4j_uri, "TESTING": True, "SECRET_KEY": SECRET_KEY, "TRELLIS_ENV": "development",
              "TRELLIS_AUTH": auth, **extra}
    app = create_app(config)
    app.config["TRELLIS_AUTH"] = auth
    app.config.setdefault("SECRET_KEY", SECRET_KEY)
    if not app.secret_key:
        app.secret_key = SECRET_KEY
    if not hasattr(app, "login_manager"):
        manager = LoginManager()
        manager.init_app(app)

        @manager.user_loader
        def _load(user_id: str):
            principal = Principal.from_session(session.get(SESSION_KEY))
            return principal if principal is not None and principal.id == user_id else None
    init_signin(app)
    return app


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {}}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            self._current["fields"][a["name"]] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def form(html: str, action_contains: str, page_url: str = "http://127.0.0.1/") -> tuple[str, dict]:
    """(absolute action URL, fields with their values) of the first form whose action contains the text."""
    parser = _Forms()
    parser.feed(html)
    for f in parser.forms:
        if action_contains in f["action"]:
            return urljoin(page_url, f["action"]), dict(f["fields"])
    raise AssertionError(f"no form posting to *{action_contains}* in:\n{html[:3000]}")


def signed_in_as(html: str) -> str | None:
    """Who the sign-in page says is signed in (None: nobody)."""
    m = re.search(r'class="signin__who">([^<]+)<', html)
    return unescape(m.group(1)) if m else None


def events(graph, action: str = "signin") -> list[dict]:
    """Audit events of one action, oldest first."""
    from graph.audit import list_events

    return list(reversed(list_events(graph, action=action, limit=1000)))
