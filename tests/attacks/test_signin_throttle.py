"""The sign-in throttle cannot be turned against people: a guesser locks out its own address, not a username,
and the address is the client's behind the configured proxies (not the proxy's, not one the client claims).

Before the fix, five wrong passwords for `alice` from anywhere locked alice out everywhere for five minutes
(the key was the username alone), and behind a reverse proxy every request came from the proxy's address, so
one guesser's thirty attempts locked everybody out; with no proxy setting X-Forwarded-For was ignored.
"""
from __future__ import annotations

import pytest

from app.auth import accounts
from tests.test_signin_support import events, form, load_users, make_app

PASSWORD = "correct horse battery staple"
PROXY = "10.0.0.2"


@pytest.fixture
def people(graph, tmp_path):
    load_users(graph, tmp_path)
    accounts.add_user(graph, "alice", PASSWORD, user_ref="user:default/alice")
    return graph


def app_with(neo4j_uri, **extra):
    return make_app(neo4j_uri, {"local": True}, **extra)


def sign_in(app, username: str, password: str, *, addr: str, forwarded: str | None = None) -> int:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    _, fields = form(client.get("/auth/login", headers=headers).get_data(as_text=True), "/auth/login")
    fields.update(username=username, password=password)
    return client.post("/auth/login", data=fields, headers=headers).status_code


def test_five_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(people, neo4j_uri):
    app = app_with(neo4j_uri)
    try:
        for i in range(8):                        # mallory, from her own address
            assert sign_in(app, "alice", f"wrong guess {i}", addr="203.0.113.66") in (401, 429)
        assert sign_in(app, "alice", PASSWORD, addr="203.0.113.66") == 429     # mallory's address is locked
        assert sign_in(app, "alice", PASSWORD, addr="198.51.100.10") == 303, "alice was locked out by a guesser"
    finally:
        app.extensions["trellis.graph"].close()


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(people, neo4j_uri):
    app = app_with(neo4j_uri, TRELLIS_TRUSTED_PROXY_HOPS=1)
    try:
        for i in range(31):                       # more than the per-address limit (30), all via the proxy
            sign_in(app, f"guess{i}", "wrong password!", addr=PROXY, forwarded="203.0.113.66")
        assert sign_in(app, "alice", PASSWORD, addr=PROXY, forwarded="203.0.113.66") == 429
        assert sign_in(app, "alice", PASSWORD, addr=PROXY, forwarded="198.51.100.10") == 303, \
            "everyone behind the proxy shares the guesser's bucket"
        # a client cannot choose its address: the proxy appends the real one after whatever the client sent
        assert sign_in(app, "alice", PASSWORD, addr=PROXY, forwarded="198.51.100.99, 203.0.113.66") == 429
        ips = {e.get("ip") for e in events(people)}
        assert PROXY not in ips and "203.0.113.66" in ips            # the audit log names the client
    finally:
        app.extensions["trellis.graph"].close()


def test_without_trusted_proxies_x_forwarded_for_is_ignored(people, neo4j_uri):
    app = app_with(neo4j_uri)
    try:
        for i in range(31):                       # a guesser rotating made-up addresses in the header
            sign_in(app, f"guess{i}", "wrong password!", addr="203.0.113.66", forwarded=f"192.0.2.{i}")
        assert sign_in(app, "alice", PASSWORD, addr="203.0.113.66", forwarded="192.0.2.200") == 429
    finally:
        app.extensions["trellis.graph"].close()
