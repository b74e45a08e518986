"""API tokens against a real Neo4j: shown once, stored hashed, scoped, expiring, revocable."""
from __future__ import annotations

import hashlib
import json

import click
import pytest
from click.testing import CliRunner

from app.auth import tokens as api_tokens
from app.auth.tokens import TokenRejected, bearer_token, issue_token, verify_token
from app.cli.tokens_cmd import tokens as tokens_group
from graph import tokens as token_store

DAY_MS = 86_400_000


@pytest.fixture
def tgraph(graph):
    """An empty database with the token constraint in place (as graph/schema.py will create it)."""
    graph.write(token_store.SCHEMA_STATEMENT)
    return graph


def issue(graph, scopes=("catalog:read",), **kw):
    args = dict(name="ci reader", owner="user:default/alice", kind="personal", scopes=list(scopes), ttl_days=30)
    args.update(kw)
    return issue_token(graph, **args)


def rejected(graph, presented, scope="catalog:read", **kw) -> str:
    with pytest.raises(TokenRejected) as info:
        verify_token(graph, presented, scope, **kw)
    return info.value.reason


def node_props(graph, token_id):
    rows = graph.read("MATCH (t:ApiToken {token_id: $id}) RETURN properties(t) AS p", id=token_id)
    assert len(rows) == 1
    return rows[0]["p"]


# ------------------------------------------------------------------------------------ issue / store


def test_issue_and_verify(tgraph):
    token, record = issue(tgraph)
    assert token.startswith("trl_") and len(token) == 47
    assert record["token_id"] == token[4:16]
    assert record["owner"] == "user:default/alice" and record["kind"] == "personal"
    assert record["scopes"] == ["catalog:read"]
    assert record["expires_at"] - record["created_at"] == 30 * DAY_MS
    assert "token_hash" not in record and token not in json.dumps(record)
    ok = verify_token(tgraph, token, "catalog:read")
    assert ok["token_id"] == record["token_id"] and "token_hash" not in ok


def test_only_the_hash_is_stored(tgraph):
    token, record = issue(tgraph)
    props = node_props(tgraph, record["token_id"])
    assert props["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    secret = token[4:]
    for key, value in props.items():
        for item in value if isinstance(value, list) else [value]:
            assert secret not in str(item), key
            assert token[16:] not in str(item), key  # not even the secret part after the id
    labels = tgraph.read("MATCH (t:ApiToken {token_id: $id}) RETURN labels(t) AS l", id=record["token_id"])
    assert labels[0]["l"] == ["ApiToken"]  # not a catalog :Entity


def test_shown_once_list_never_has_token_or_hash(tgraph):
    token, record = issue(tgraph)
    issue(tgraph, owner="ci-bot", kind="service", name="deployer", scopes=["catalog:write"])
    listed = token_store.list_tokens(tgraph)
    assert [t["token_id"] for t in listed][0] == record["token_id"] and len(listed) == 2
    blob = json.dumps(listed)
    assert "token_hash" not in blob and token not in blob and token[16:] not in blob
    assert hashlib.sha256(token.encode()).hexdigest() not in blob
    mine = token_store.list_tokens(tgraph, owner="user:default/alice")
    assert [t["token_id"] for t in mine] == [record["token_id"]]
    assert [t["owner"] for t in token_store.list_tokens(tgraph, owner="service:ci-bot")] == ["service:ci-bot"]


def test_issue_validation(tgraph):
    bad = [
        dict(scopes=[]),
        dict(scopes=["catalog:delete"]),
        dict(scopes="catalog:read"),
        dict(ttl_days=0),
        dict(ttl_days=366),
        dict(ttl_days=True),
        dict(ttl_days=1.5),
        dict(name="  "),
        dict(name="x" * 101),
        dict(name="bad\nname"),
        dict(kind="robot"),
        dict(owner="group:default/payments"),
        dict(owner="service:ci"),  # personal token with a service owner
        dict(owner="BAD NAME!", kind="service"),
        dict(owner=""),
    ]
    for override in bad:
        with pytest.raises(ValueError):
            issue(tgraph, **override)
    assert token_store.list_tokens(tgraph) == []
    _, record = issue(tgraph, owner="Alice", ttl_days=365, scopes=["admin", "catalog:read", "admin"])
    assert record["owner"] == "user:default/alice" and record["scopes"] == ["catalog:read", "admin"]
    _, service = issue(tgraph, owner="Service:CI-Bot", kind="service")
    assert service["owner"] == "service:ci-bot" and service["kind"] == "service"


def test_store_refuses_duplicate_id(tgraph):
    _, record = issue(tgraph)
    clash = dict(record, token_hash="0" * 64)
    with pytest.raises(token_store.DuplicateTokenId):
        token_store.store_token(tgraph, clash)
    with pytest.raises(ValueError):
        token_store.store_token(tgraph, dict(clash, token_id="aaaaaaaaaaaa", expires_at=None))


# ------------------------------------------------------------------------------------ rejections


def test_expired(tgraph):
    token, record = issue(tgraph, ttl_days=1)
    assert verify_token(tgraph, token, "catalog:read", now_ms=record["expires_at"] - 1)
    assert rejected(tgraph, token, now_ms=record["expires_at"]) == "expired"
    assert rejected(tgraph, token, now_ms=record["expires_at"] + DAY_MS) == "expired"


def test_revoked(tgraph):
    token, record = issue(tgraph)
    assert token_store.revoke_token(tgraph, record["token_id"]) is True
    first = node_props(tgraph, record["token_id"])["revoked_at"]
    assert token_store.revoke_token(tgraph, record["token_id"], now_ms=first + 5000) is True
    assert node_props(tgraph, record["token_id"])["revoked_at"] == first  # first revocation kept
    assert rejected(tgraph, token) == "revoked"
    assert token_store.revoke_token(tgraph, "nonexistent0") is False


def test_wrong_scope_and_admin_implies_all(tgraph):
    reader, _ = issue(tgraph, scopes=["catalog:read"])
    assert rejected(tgraph, reader, "catalog:write") == "wrong scope"
    assert rejected(tgraph, reader, "admin") == "wrong scope"
    assert rejected(tgraph, reader, "reports:read") == "wrong scope"
    admin, _ = issue(tgraph, scopes=["admin"])
    for scope in api_tokens.SCOPES:
        assert verify_token(tgraph, admin, scope)["scopes"] == ["admin"]
    with pytest.raises(ValueError):
        verify_token(tgraph, admin, "catalog:everything")


def test_unknown_and_forged(tgraph):
    token, record = issue(tgraph)
    other = "trl_" + "A" * 43
    assert rejected(tgraph, other) == "unknown"
    # Same public id, different secret: rejected, and indistinguishable from an unknown id.
    forged = token[:16] + ("B" if token[16] != "B" else "C") + token[17:]
    assert forged != token and forged[4:16] == record["token_id"]
    assert rejected(tgraph, forged) == "unknown"
    token_store.revoke_token(tgraph, record["token_id"])
    assert rejected(tgraph, forged) == "unknown"  # a forged secret does not learn that the id is revoked
    assert node_props(tgraph, record["token_id"]).get("last_used_at") is None


@pytest.mark.parametrize("presented", [
    "", " ", None, 12345, b"trl_" + b"a" * 43,
    "trl_", "trl_short",
    "xyz_" + "a" * 43, "TRL_" + "a" * 43, "trl-" + "a" * 43,
    "trl_" + "a" * 44, "trl_" + "a" * 42, "trl_" + "a" * 10_000,
    "trl_" + "é" * 43, "trl_" + "a" * 42 + "é", "trl_" + "ａ" * 43, "trl_" + "a" * 42 + "\n",
    " trl_" + "a" * 42, "trl_" + "a" * 42 + "=", "trl_" + "a" * 42 + "+", "trl_" + "a" * 21 + "/" + "a" * 21,
    "Bearer trl_" + "a" * 43,
])
def test_malformed(tgraph, presented):
    assert rejected(tgraph, presented) == "malformed"


def test_last_used_at(tgraph):
    token, record = issue(tgraph)
    assert record["last_used_at"] is None
    t0 = record["created_at"] + 1000
    assert verify_token(tgraph, token, "catalog:read", now_ms=t0)["last_used_at"] == t0
    assert node_props(tgraph, record["token_id"])["last_used_at"] == t0
    verify_token(tgraph, token, "catalog:read", now_ms=t0 + 60_000)
    assert node_props(tgraph, record["token_id"])["last_used_at"] == t0 + 60_000
    token_store.touch_token(tgraph, record["token_id"], t0)  # never moves backwards
    assert node_props(tgraph, record["token_id"])["last_used_at"] == t0 + 60_000
    # A rejected attempt (wrong scope) is not a use.
    rejected(tgraph, token, "admin", now_ms=t0 + 120_000)
    assert node_props(tgraph, record["token_id"])["last_used_at"] == t0 + 60_000
    listed = token_store.list_tokens(tgraph)
    assert listed[0]["last_used_at"] == t0 + 60_000


def test_bearer_token():
    tok = "trl_" + "a" * 43
    assert bearer_token(f"Bearer {tok}") == tok
    assert bearer_token(f"bearer   {tok}  ") == tok
    for header in (None, "", "Bearer", "Bearer ", f"Basic {tok}", f"Bearer {tok} extra", tok, "Token x"):
        assert bearer_token(header) is None


# ------------------------------------------------------------------------------------ CLI


@pytest.fixture
def cli(tgraph, neo4j_uri, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)

    @click.group()
    def root() -> None:
        pass

    root.add_command(tokens_group)

    def run(*args: str):
        return CliRunner().invoke(root, ["tokens", *args], catch_exceptions=False)

    return run


def test_cli_create_list_revoke(cli, tgraph):
    res = cli("create", "--name", "laptop", "--owner", "user:default/alice", "--scope", "catalog:read",
              "--scope", "reports:read", "--days", "7")
    assert res.exit_code == 0, res.stderr
    token = res.stdout.strip()
    assert token.startswith("trl_") and len(token) == 47
    assert "will not be shown again" in res.stderr
    assert verify_token(tgraph, token, "reports:read")["owner"] == "user:default/alice"

    res = cli("create", "--name", "deploy", "--owner", "ci-bot", "--service", "--scope", "catalog:write", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(data) == {"token", "token_id", "expires_at", "scopes"}
    assert data["scopes"] == ["catalog:write"] and data["token"][4:16] == data["token_id"]
    assert verify_token(tgraph, data["token"], "catalog:write")["owner"] == "service:ci-bot"

    res = cli("list", "--json")
    assert res.exit_code == 0
    listed = json.loads(res.stdout)
    assert len(listed) == 2 and {t["status"] for t in listed} == {"active"}
    assert token not in res.stdout and data["token"] not in res.stdout and "token_hash" not in res.stdout
    res = cli("list", "--owner", "service:ci-bot", "--json")
    assert [t["token_id"] for t in json.loads(res.stdout)] == [data["token_id"]]
    res = cli("list")
    assert res.exit_code == 0 and "TOKEN_ID" in res.stdout and token[4:16] in res.stdout
    assert token not in res.stdout

    res = cli("revoke", token[4:16])
    assert res.exit_code == 0 and "revoked" in res.stdout
    assert rejected(tgraph, token, "catalog:read") == "revoked"
    res = cli("list", "--owner", "user:default/alice", "--json")
    assert json.loads(res.stdout)[0]["status"] == "revoked"


def test_cli_errors(cli):
    cases = [
        ("create", "--name", "x", "--owner", "alice", "--scope", "catalog:nope"),
        ("create", "--name", "x", "--owner", "alice", "--scope", "admin", "--days", "400"),
        ("create", "--name", "x", "--owner", "group:default/team", "--scope", "admin"),
        ("revoke", "abcdefghijkl"),
        ("revoke", "not-an-id"),
        ("list", "--owner", "kind:"),
    ]
    for args in cases:
        res = cli(*args)
        assert res.exit_code == 1, (args, res.stdout, res.stderr)
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
        assert res.stdout == ""


def test_cli_neo4j_unreachable(monkeypatch):
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    res = CliRunner().invoke(tokens_group, ["list"], catch_exceptions=False)
    assert res.exit_code == 1 and res.stderr.startswith("error: ")


def test_a_token_id_never_reads_as_an_option(cli, monkeypatch):
    """`trellis tokens revoke <id>`: an id starting with `-` would be parsed as an option (exit 2)."""
    import secrets as secrets_module

    drawn = iter(["-" + "a" * 42, "b" * 43])
    monkeypatch.setattr(secrets_module, "token_urlsafe", lambda n=None: next(drawn))
    res = cli("create", "--name", "dash", "--owner", "user:default/alice", "--scope", "catalog:read")
    assert res.exit_code == 0, res.stderr
    token = res.stdout.strip()
    assert token == "trl_" + "b" * 43
    res = cli("revoke", token[4:16])
    assert res.exit_code == 0 and "revoked" in res.stdout
