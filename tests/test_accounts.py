"""Local accounts: password hashing and policy, the account store in Neo4j, sign-in checks, `trellis users`."""
from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from app.auth import accounts, passwords
from app.auth.passwords import check_password_policy, hash_password, needs_rehash, verify_password
from app.cli.users_cmd import users
from graph import accounts as store

GOOD = "correct horse battery"


# ------------------------------------------------------------------------------------------- hashing

def test_hash_round_trip_and_format():
    encoded = hash_password(GOOD)
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**15), "8", "1")
    import base64
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    assert verify_password(GOOD, encoded)
    assert not needs_rehash(encoded)


def test_salt_is_random():
    assert hash_password(GOOD) != hash_password(GOOD)


def test_wrong_password_is_refused():
    encoded = hash_password(GOOD)
    assert not verify_password("correct horse battery!", encoded)
    assert not verify_password("", encoded)


def test_hash_params_travel_with_the_hash():
    # A hash made with cheaper parameters (e.g. before they were raised) still verifies, and asks for a re-hash.
    import base64, hashlib
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(GOOD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"
    assert verify_password(GOOD, old)
    assert needs_rehash(old)


@pytest.mark.parametrize("bad", [
    "", "garbage", None, 42, "bcrypt$2b$12$abc",
    "scrypt$32768$8$1$c2FsdA==",                       # missing key
    "scrypt$32768$8$1$!!!$AAAA",                        # not base64
    "scrypt$x$8$1$c2FsdHNhbHRzYWx0$" + "A" * 44,       # n not a number
    "scrypt$1000$8$1$c2FsdHNhbHRzYWx0$" + "A" * 44,    # n not a power of two
    "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0$" + "A" * 44,  # absurd cost: refused, not computed
    "scrypt$32768$8$1$$" + "A" * 44,                    # empty salt
])
def test_malformed_hash_is_false_not_an_error(bad):
    assert verify_password(GOOD, bad) is False
    assert needs_rehash(bad) if isinstance(bad, str) else True


def test_non_string_password_is_false():
    assert verify_password(None, hash_password(GOOD)) is False


@pytest.mark.parametrize("pw, message", [
    ("short", "at least 12"),
    ("a" * 11, "at least 12"),
    ("a" * 12, "one character"),
    ("x" * 1025, "at most 1024"),
    (None, "text"),
])
def test_policy_refuses(pw, message):
    with pytest.raises(ValueError, match=message):
        check_password_policy(pw)


@pytest.mark.parametrize("pw", ["abcdefghijkl", "a" * 11 + "b", "é" * 11 + "x", "y" * 1023 + "z"])
def test_policy_accepts(pw):
    check_password_policy(pw)


# ------------------------------------------------------------------------------------------- username rule

@pytest.mark.parametrize("name, stored", [("Alice", "alice"), ("a1", "a1"), ("jane.doe_2-x", "jane.doe_2-x"),
                                          ("a" * 63, "a" * 63)])
def test_username_rule_accepts(name, stored):
    assert accounts.normalize_username(name) == stored


@pytest.mark.parametrize("name", ["a", "", "-alice", ".alice", "al ice", "alice\n", "a" * 64, "al@ice", "élise", None])
def test_username_rule_refuses(name):
    with pytest.raises(ValueError):
        accounts.normalize_username(name)


# ------------------------------------------------------------------------------------------- store (Neo4j)

def test_account_crud(graph):
    created = store.create_account(graph, "Alice", "h1", user_ref="user:default/alice")
    assert created["username"] == "alice" and created["disabled"] is False
    assert created["user_ref"] == "user:default/alice" and "password_hash" not in created
    assert created["created_at"] == created["updated_at"] and isinstance(created["created_at"], int)

    got = store.get_account(graph, "ALICE")
    assert got["password_hash"] == "h1" and got["username"] == "alice"
    assert store.get_account(graph, "bob") is None

    store.set_password_hash(graph, "alice", "h2")
    store.set_disabled(graph, "Alice", True)
    got = store.get_account(graph, "alice")
    assert got["password_hash"] == "h2" and got["disabled"] is True and got["updated_at"] >= got["created_at"]

    with pytest.raises(store.AccountNotFound):
        store.set_password_hash(graph, "nobody", "h")
    with pytest.raises(store.AccountNotFound):
        store.set_disabled(graph, "nobody", True)


def test_accounts_are_not_catalog_entities(graph):
    store.create_account(graph, "alice", "h1")
    rows = graph.read("MATCH (a:Account) RETURN labels(a) AS labels")
    assert [r["labels"] for r in rows] == [["Account"]]


def test_duplicate_username_refused_case_insensitively(graph):
    accounts.add_user(graph, "alice", GOOD)
    for name in ("alice", "ALICE", "Alice"):
        with pytest.raises(accounts.AccountExists):
            accounts.add_user(graph, name, GOOD + "2")
    # the first account is untouched
    assert accounts.authenticate(graph, "alice", GOOD) is not None
    assert len(store.list_accounts(graph)) == 1


def test_duplicate_refused_with_the_constraint_too(graph):
    graph.write("CREATE CONSTRAINT account_username IF NOT EXISTS FOR (a:Account) REQUIRE a.username IS UNIQUE")
    store.create_account(graph, "alice", "h1")
    with pytest.raises(store.AccountExists):
        store.create_account(graph, "ALICE", "h2")
    assert store.get_account(graph, "alice")["password_hash"] == "h1"


def test_list_never_returns_hashes(graph):
    accounts.add_user(graph, "bob", GOOD)
    accounts.add_user(graph, "Alice", GOOD, user_ref="user:default/alice")
    rows = store.list_accounts(graph)
    assert [r["username"] for r in rows] == ["alice", "bob"]
    assert all(set(r) == {"username", "disabled", "created_at", "updated_at", "user_ref"} for r in rows)
    assert "scrypt$" not in json.dumps(rows)
    assert accounts.list_users(graph) == rows


# ------------------------------------------------------------------------------------------- services

def test_add_user_validates_before_storing(graph):
    with pytest.raises(ValueError, match="username"):
        accounts.add_user(graph, "-bad", GOOD)
    with pytest.raises(ValueError, match="at least 12"):
        accounts.add_user(graph, "alice", "short")
    assert store.list_accounts(graph) == []


def test_authenticate(graph):
    accounts.add_user(graph, "alice", GOOD, user_ref="user:default/alice")
    ok = accounts.authenticate(graph, "Alice", GOOD)
    assert ok["username"] == "alice" and ok["user_ref"] == "user:default/alice" and "password_hash" not in ok
    assert accounts.authenticate(graph, "alice", GOOD.upper()) is None
    assert accounts.authenticate(graph, "nobody", GOOD) is None
    assert accounts.authenticate(graph, "not a valid name!", GOOD) is None
    assert accounts.authenticate(graph, "alice", None) is None


def test_disabled_accounts_cannot_authenticate(graph):
    accounts.add_user(graph, "alice", GOOD)
    accounts.disable_user(graph, "alice")
    assert accounts.authenticate(graph, "alice", GOOD) is None
    accounts.enable_user(graph, "ALICE")
    assert accounts.authenticate(graph, "alice", GOOD) is not None
    with pytest.raises(accounts.AccountNotFound):
        accounts.disable_user(graph, "nobody")


def test_change_password(graph):
    accounts.add_user(graph, "alice", GOOD)
    accounts.change_password(graph, "alice", "a brand new secret")
    assert accounts.authenticate(graph, "alice", GOOD) is None
    assert accounts.authenticate(graph, "alice", "a brand new secret") is not None
    with pytest.raises(ValueError, match="at least 12"):
        accounts.change_password(graph, "alice", "short")
    with pytest.raises(PermissionError):
        accounts.change_password(graph, "alice", "another new secret", current_password="wrong wrong wrong")
    accounts.change_password(graph, "alice", "another new secret", current_password="a brand new secret")
    assert accounts.authenticate(graph, "alice", "another new secret") is not None
    with pytest.raises(accounts.AccountNotFound):
        accounts.change_password(graph, "nobody", "another new secret")


def test_old_parameters_are_upgraded_at_sign_in(graph):
    import base64, hashlib
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(GOOD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    store.create_account(graph, "alice", f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}$"
                                         f"{base64.b64encode(key).decode()}")
    assert accounts.authenticate(graph, "alice", GOOD) is not None
    upgraded = store.get_account(graph, "alice")["password_hash"]
    assert upgraded.startswith(f"scrypt${2**15}$8$1$") and verify_password(GOOD, upgraded)


@pytest.fixture
def kdf_calls(monkeypatch):
    """Count key derivations (each is the expensive part of a sign-in check)."""
    accounts._dummy_hash()          # made once per process, before counting starts
    calls = []
    real = passwords._kdf

    def counting(*args, **kwargs):
        calls.append(args[2:5])
        return real(*args, **kwargs)
    monkeypatch.setattr(passwords, "_kdf", counting)
    return calls


def test_unknown_user_costs_the_same_as_a_wrong_password(graph, kdf_calls):
    accounts.add_user(graph, "alice", GOOD)
    accounts.add_user(graph, "carol", GOOD)
    accounts.disable_user(graph, "carol")
    kdf_calls.clear()
    per_case = {}
    for case, (user, pw) in {
        "wrong password": ("alice", "not the password"),
        "unknown user": ("nobody", "not the password"),
        "invalid username": ("???", "not the password"),
        "disabled": ("carol", GOOD),
        "right": ("alice", GOOD),
    }.items():
        before = len(kdf_calls)
        accounts.authenticate(graph, user, pw)
        per_case[case] = kdf_calls[before:]
    # exactly one derivation each, all with the same (current) cost parameters
    assert {case: len(c) for case, c in per_case.items()} == dict.fromkeys(per_case, 1)
    assert {c[0] for c in per_case.values()} == {(2**15, 8, 1)}


# ------------------------------------------------------------------------------------------- CLI

@pytest.fixture
def cli(graph, neo4j_uri, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)

    @click.group()
    def root() -> None:
        pass
    root.add_command(users)

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(root, ["users", *args], input=input, catch_exceptions=False)
    return invoke


def test_cli_add_list_passwd_disable_enable(cli, graph):
    result = cli("add", "Alice", "--user-ref", "user:default/alice", "--password-stdin", input=GOOD + "\n")
    assert result.exit_code == 0, result.stderr
    assert "alice" in result.stdout
    assert accounts.authenticate(graph, "alice", GOOD) is not None

    listed = cli("list", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["username"], r["disabled"], r["user_ref"]) for r in rows] == [("alice", False, "user:default/alice")]
    assert "password_hash" not in listed.stdout and "scrypt" not in listed.stdout

    assert cli("passwd", "alice", "--password-stdin", input="a brand new secret\n").exit_code == 0
    assert accounts.authenticate(graph, "alice", "a brand new secret") is not None

    assert cli("disable", "ALICE").exit_code == 0
    assert accounts.authenticate(graph, "alice", "a brand new secret") is None
    text = cli("list")
    assert text.exit_code == 0 and "disabled" in text.stdout and "scrypt" not in text.stdout
    assert cli("enable", "alice").exit_code == 0
    assert accounts.authenticate(graph, "alice", "a brand new secret") is not None


def test_cli_prompts_for_the_password_twice(cli, graph):
    result = cli("add", "bob", input=f"{GOOD}\n{GOOD}\n")
    assert result.exit_code == 0, result.stderr
    assert accounts.authenticate(graph, "bob", GOOD) is not None
    assert GOOD not in result.stdout          # hidden input is not echoed


def test_cli_list_empty(cli):
    result = cli("list")
    assert result.exit_code == 0 and "No accounts." in result.stdout
    assert json.loads(cli("list", "--json").stdout) == []


@pytest.mark.parametrize("args, stdin, message", [
    (("add", "alice", "--password-stdin"), "short\n", "at least 12"),
    (("add", "--password-stdin", "--", "-bad"), GOOD + "\n", "username"),
    (("add", "al@ice", "--password-stdin"), GOOD + "\n", "username"),
    (("add", "alice", "--password-stdin"), "", "no password"),
    (("passwd", "nobody", "--password-stdin"), GOOD + "\n", "no account"),
    (("disable", "nobody"), None, "no account"),
    (("enable", "nobody"), None, "no account"),
])
def test_cli_errors_are_one_line_exit_1(cli, args, stdin, message):
    result = cli(*args, input=stdin)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr and result.stderr.startswith("error: ")


def test_cli_duplicate_is_refused(cli):
    assert cli("add", "alice", "--password-stdin", input=GOOD + "\n").exit_code == 0
    result = cli("add", "ALICE", "--password-stdin", input=GOOD + "\n")
    assert result.exit_code == 1 and "already exists" in result.stderr


def test_cli_unreachable_neo4j_is_exit_1(monkeypatch):
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")

    @click.group()
    def root() -> None:
        pass
    root.add_command(users)
    result = CliRunner().invoke(root, ["users", "list"])
    assert result.exit_code == 1 and "not reachable" in result.stderr and result.stderr.count("\n") == 1
