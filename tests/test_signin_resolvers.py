"""Sign-in resolvers against a real catalog in Neo4j (email, user name, annotation, order, ambiguity), the
pure pieces (config parsing, throttle arithmetic, safe `next`), and config validation at start."""
from __future__ import annotations

import pytest

from app.auth import resolvers, throttle
from app.auth.resolvers import Identity
from app.auth.signin import SigninConfigError, load_settings, safe_next
from tests.test_signin_support import load_users

EMAIL, LOGIN = "email", "annotation:github.com/user-login"
USERNAME_OIDC = {"resolver": "username", "providers": ["oidc"]}
GITHUB_API = "https://api.github.com/"


def chain(*items) -> tuple[resolvers.Resolver, ...]:
    return resolvers.parse_resolvers(list(items))


ALL = chain(EMAIL, USERNAME_OIDC, LOGIN)


@pytest.fixture
def people(graph, tmp_path):
    load_users(graph, tmp_path)
    return graph


def ident(username: str = "someone", emails: tuple[str, ...] = (), provider: str = "oidc",
          subject: str = "sub-1") -> Identity:
    issuer = GITHUB_API if provider == "github" else ("https://idp.example/realms/x" if provider == "oidc" else "")
    return Identity(provider=provider, subject=subject, username=username, emails=emails, issuer=issuer)


def test_email_is_case_insensitive(people):
    result = resolvers.resolve(people, ident(emails=("ALICE@example.COM",)), chain(EMAIL))
    assert (result.user_ref, result.resolver, result.bind) == ("user:default/alice", "email", True)


def test_username_matches_metadata_name_only_for_the_providers_named(people):
    result = resolvers.resolve(people, ident("Carol"), chain(USERNAME_OIDC))
    assert (result.user_ref, result.resolver) == ("user:default/carol", "username(oidc)")
    assert resolvers.resolve(people, ident("carol", provider="github"), chain(USERNAME_OIDC)).user_ref is None


def test_annotation_matches_the_provider_login_of_its_own_provider_only(people):
    result = resolvers.resolve(people, ident("OctoCat", provider="github"), chain(LOGIN))
    assert (result.user_ref, result.resolver) == ("user:default/carol", LOGIN)
    # an OIDC account called octocat is not the GitHub account octocat
    assert resolvers.resolve(people, ident("octocat"), chain(LOGIN)).user_ref is None


def test_resolvers_are_tried_in_the_configured_order(people):
    # username "alice" would match alice, but the email (tried first) is carol's
    who = ident("alice", emails=("carol@corp.example",))
    assert resolvers.resolve(people, who, ALL).user_ref == "user:default/carol"
    assert resolvers.resolve(people, who, chain(USERNAME_OIDC, EMAIL)).user_ref == "user:default/alice"


def test_later_resolvers_are_used_when_earlier_ones_find_nobody(people):
    result = resolvers.resolve(people, ident("alice-gh", emails=("nobody@else.example",), provider="github"), ALL)
    assert result.user_ref == "user:default/alice"
    assert result.attempts == ("email: no catalog user", f"{LOGIN}: matched user:default/alice")


def test_an_ambiguous_email_is_never_guessed(people):
    result = resolvers.resolve(people, ident("x", emails=("shared@corp.example",)), chain(EMAIL))
    assert result.user_ref is None
    assert "ambiguous" in result.reason and "user:default/dave" in result.reason


def test_no_match_says_why(people):
    result = resolvers.resolve(people, ident("zed"), ALL)
    assert result.user_ref is None
    assert result.reason == "email: no verified email; username(oidc): no catalog user"
    # the default chain has nothing for an OIDC sign-in: no access unless bound or configured
    assert resolvers.resolve(people, ident("alice"), resolvers.parse_resolvers(None)).reason == (
        "no resolver applies to this sign-in method")


def test_only_declared_users_match_not_placeholders_or_other_kinds(people):
    # platform-team is a Group, and memberOf creates no User placeholder named like it
    assert resolvers.resolve(people, ident("platform-team"), chain(USERNAME_OIDC)).user_ref is None


def test_a_bound_account_goes_by_its_binding_whatever_it_is_called(people):
    from graph import bindings

    bindings.bind(people, provider="github", issuer=GITHUB_API, subject="42", user_ref="user:default/alice",
                  via="test")
    renamed = ident("octocat", provider="github", subject="42")        # carol's login annotation, now
    result = resolvers.resolve(people, renamed, chain(LOGIN))
    assert (result.user_ref, result.resolver, result.bind) == ("user:default/alice", "binding", False)
    # the same id at another GitHub instance is another account
    other = Identity(provider="github", subject="42", username="octocat", issuer="https://ghe.corp.example/api/v3/")
    assert resolvers.resolve(people, other, chain(LOGIN)).user_ref == "user:default/carol"
    # a binding to a user who left the catalog signs in as nobody (and tries no resolver)
    bindings.bind(people, provider="github", issuer=GITHUB_API, subject="43", user_ref="user:default/gone",
                  via="test")
    gone = resolvers.resolve(people, ident("alice-gh", provider="github", subject="43"), chain(LOGIN))
    assert gone.user_ref is None and "not in the catalog" in gone.reason


def test_a_match_for_a_user_bound_to_another_account_is_refused(people):
    from graph import bindings

    bindings.bind(people, provider="github", issuer=GITHUB_API, subject="1", user_ref="user:default/carol",
                  via="test")
    result = resolvers.resolve(people, ident("octocat", provider="github", subject="666"), chain(LOGIN))
    assert result.user_ref is None and "bound to another github account (1)" in result.reason


def test_the_github_user_id_annotation_pins_a_user_to_one_account(people, tmp_path):
    from ingest.sync import ingest

    (tmp_path / "pinned").mkdir()
    (tmp_path / "pinned" / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: frank\n  annotations:\n"
        "    github.com/user-login: frank-gh\n    github.com/user-id: '77'\nspec: {memberOf: []}\n")
    ingest(people, str(tmp_path / "pinned"))
    by_id = resolvers.resolve(people, ident("renamed", provider="github", subject="77"), resolvers.parse_resolvers(None))
    assert (by_id.user_ref, by_id.resolver) == ("user:default/frank", "annotation:github.com/user-id")
    impostor = resolvers.resolve(people, ident("frank-gh", provider="github", subject="78"), chain(LOGIN))
    assert impostor.user_ref is None and "github.com/user-id: 77" in impostor.reason


def test_parse_resolvers():
    default = resolvers.parse_resolvers(None)
    assert [r.name for r in default] == ["annotation:github.com/user-id", LOGIN]
    assert all(r.providers == {"github"} for r in default)
    (mapped,) = resolvers.parse_resolvers([{"annotation": " acme.com/login ", "provider": "oidc"}])
    assert (mapped.annotation, mapped.providers, mapped.value) == ("acme.com/login", {"oidc"}, "username")
    (ms,) = resolvers.parse_resolvers(["annotation:microsoft.com/email"])
    assert (ms.providers, ms.value) == ({"oidc"}, "email")
    for bad, says in (("email", "must be a list"), (["mail"], "unknown resolver"), (["annotation:"], "unknown"),
                      ([3], "neither"), (["username"], "needs its providers"),
                      ([{"resolver": "username"}], "name the providers"),
                      (["annotation:acme.com/login"], "belongs to no known sign-in provider"),
                      ([{"annotation": "github.com/user-login", "provider": "oidc"}], "matches only that"),
                      ([{"resolver": "username", "providers": ["ldap"]}], "providers must be")):
        with pytest.raises(ValueError, match="auth.resolvers") as err:
            resolvers.parse_resolvers(bad)
        assert says in str(err.value), (bad, str(err.value))


# ------------------------------------------------------------------ throttle arithmetic (pure)


def test_retry_after_counts_from_the_failure_that_must_age_out():
    window = 300_000
    now = 1_000_000
    times = [now - 250_000, now - 100_000, now - 50_000]       # three failures in the window
    assert throttle.retry_after(times, 4, window, now) is None  # below the limit
    # limit 3: locked until the oldest leaves the window (50 s from now)
    assert throttle.retry_after(times, 3, window, now) == 50
    # limit 2: it unlocks when only one is left, i.e. when the second oldest leaves (200 s)
    assert throttle.retry_after(times, 2, window, now) == 200
    assert throttle.retry_after([now - 400_000] * 10, 3, window, now) is None   # all expired


def test_throttle_failures_are_stored_and_cleared(graph):
    from graph import throttle as store

    for _ in range(3):
        store.record_failure(graph, "user:alice", 60_000)
    store.record_failure(graph, "user:alice", 60_000, now=store.now_ms() - 120_000)  # already outside
    counts = store.failures(graph, ["user:alice", "ip:1.2.3.4"], 60_000)
    assert list(counts) == ["user:alice"] and len(counts["user:alice"]) == 3
    store.clear(graph, "user:alice")
    assert store.failures(graph, ["user:alice"], 60_000) == {}


def test_reserve_counts_atomically_refuses_at_the_limit_and_releases(graph):
    from graph import throttle as store

    limits = {"user:alice": 2, "ip:10.0.0.1": 5}
    assert store.reserve(graph, limits, 60_000, now=1_000)[0]
    assert store.reserve(graph, limits, 60_000, now=2_000)[0]
    reserved, seen = store.reserve(graph, limits, 60_000, now=3_000)
    assert not reserved and seen == {"user:alice": [1_000, 2_000], "ip:10.0.0.1": [1_000, 2_000]}
    # a refused attempt counted nowhere
    assert store.failures(graph, ["ip:10.0.0.1"], 60_000, now=3_000) == {"ip:10.0.0.1": [1_000, 2_000]}
    store.release(graph, "ip:10.0.0.1", 1_000)
    assert store.failures(graph, ["ip:10.0.0.1"], 60_000, now=3_000) == {"ip:10.0.0.1": [2_000]}
    assert store.reserve(graph, limits, 60_000, now=62_000)[0]        # the first one left the window


def test_throttle_limits_config():
    assert throttle.Limits.from_config(None) == throttle.Limits(5, 30, 300)
    assert throttle.Limits.from_config({"username": 3}).username == 3
    for bad in ({"username": 0}, {"ip": "many"}, {"window": 5}, [1]):
        with pytest.raises(ValueError, match="auth.throttle"):
            throttle.Limits.from_config(bad)


# ------------------------------------------------------------------ safe next (pure)


@pytest.mark.parametrize("value, expected", [
    ("/catalog?kind=component", "/catalog?kind=component"),
    ("/entity/component/default/x#deps", "/entity/component/default/x#deps"),
    (None, "/"), ("", "/"), ("catalog", "/"), ("//evil.example", "/"), ("///evil.example", "/"),
    ("/\\evil.example", "/"), ("https://evil.example/", "/"), ("javascript:alert(1)", "/"),
    ("/ok\r\nSet-Cookie: x=y", "/"), ("/auth/login", "/"), ("/" + "a" * 3000, "/"),
])
def test_safe_next(value, expected):
    assert safe_next(value) == expected


# ------------------------------------------------------------------ configuration checked at start (pure)

OIDC = {"name": "Keycloak", "discovery_url": "https://idp.example/realms/x/.well-known/openid-configuration",
        "client_id": "portal", "client_secret": "s3cret"}


def test_full_config_is_accepted():
    settings = load_settings({"local": False, "oidc": OIDC, "github": {"client_id": "gh", "client_secret": "x"},
                              "resolvers": ["email"], "require_catalog_user": True}, env={})
    assert settings.oidc.scopes == ("openid", "email", "profile")
    assert settings.github.api_url == "https://api.github.com/"
    assert settings.github.token_url == "https://github.com/login/oauth/access_token"
    assert [r.name for r in settings.resolvers] == ["email"] and settings.require_catalog_user
    assert not settings.local


def test_secrets_come_from_the_environment_or_a_file(tmp_path):
    section = {k: v for k, v in OIDC.items() if k != "client_secret"}
    with pytest.raises(SigninConfigError, match="TRELLIS_SECRET_OIDC_CLIENT_SECRET"):
        load_settings({"oidc": section}, env={})
    env = {"TRELLIS_SECRET_OIDC_CLIENT_SECRET": "from-env"}
    assert load_settings({"oidc": section}, env=env).oidc.client_secret == "from-env"
    secret_file = tmp_path / "gh-secret"
    secret_file.write_text("from-file\n")
    settings = load_settings({"github": {"client_id": "gh"}},
                             env={"TRELLIS_SECRET_GITHUB_CLIENT_SECRET_FILE": str(secret_file)})
    assert settings.github.client_secret == "from-file"
    with pytest.raises(SigninConfigError, match="cannot read"):
        load_settings({"github": {"client_id": "gh"}},
                      env={"TRELLIS_SECRET_GITHUB_CLIENT_SECRET_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize("raw, message", [
    ({"local": False}, "no sign-in method"),
    ({"local": "yes"}, "auth.local"),
    ({"oidc": "keycloak"}, "auth.oidc must be a mapping"),
    ({"oidc": {**OIDC, "discovery_url": "http://idp.example/x"}}, "must use https"),
    ({"oidc": {**OIDC, "discovery_url": "idp.example"}}, "absolute http"),
    ({"oidc": {**OIDC, "scopes": ["email"]}}, "must include 'openid'"),
    ({"oidc": {k: v for k, v in OIDC.items() if k != "client_id"}}, "auth.oidc.client_id is missing"),
    ({"github": {"client_id": "gh", "client_secret": "x", "api_url": "ftp://x"}}, "auth.github.api_url"),
    ({"resolvers": ["nickname"]}, "unknown resolver"),
    ({"require_catalog_user": "sure"}, "require_catalog_user"),
    ({"throttle": {"ip": -1}}, "auth.throttle.ip"),
    ({"throttle": {"username": 9, "username_total": 3}}, "username_total must be at least"),
    ({"oidc": {**OIDC, "allowed_domains": ["not a domain"]}}, "auth.oidc.allowed_domains"),
    ({"oidc": {**OIDC, "allowed_domains": "corp.example"}}, "must be a list"),
    ({"oidc": {**OIDC, "required_claims": ["groups"]}}, "auth.oidc.required_claims"),
    ({"github": {"client_id": "gh", "client_secret": "x", "allowed_teams": ["platform"]}},
     "must be <organisation>/<team-slug>"),
    ({"github": {"client_id": "gh", "client_secret": "x", "allowed_organizations": ["acme"],
                 "scopes": ["read:user"]}}, "must include 'read:org'"),
    ({"github": {"client_id": "gh", "client_secret": "x"}, "require_catalog_user": False},
     "any GitHub account in the world"),
])
def test_bad_config_is_refused_with_a_clear_reason(raw, message):
    with pytest.raises(SigninConfigError, match=message):
        load_settings(raw, env={})


def test_plain_http_is_allowed_only_towards_this_machine():
    cfg = {**OIDC, "discovery_url": "http://127.0.0.1:8080/realms/t/.well-known/openid-configuration"}
    assert load_settings({"oidc": cfg}, env={}).oidc.discovery_url.startswith("http://127.0.0.1")


# ------------------------------------------------------------------ allow-lists (pure)


def test_oidc_allow_list_domains_and_required_claims():
    from app.auth.admission import OidcAdmission

    rule = OidcAdmission.from_config({"allowed_domains": ["Corp.Example"],
                                      "required_claims": {"groups": "platform", "tenant": ["acme", "acme-eu"]}})
    ok = {"hd": "corp.example", "groups": ["dev", "platform"], "tenant": "acme-eu"}
    assert rule.refusal(ok, ()) is None
    # the domain of a verified e-mail counts as well as Google's `hd`; an unverified one was never passed in
    assert rule.refusal({**ok, "hd": None}, ("jo@corp.example",)) is None
    assert "corp.example only" in rule.refusal({**ok, "hd": "evil.example"}, ("jo@evil.example",))
    assert "corp.example only" in rule.refusal({**ok, "hd": None}, ())
    assert "'groups'" in rule.refusal({**ok, "groups": ["platform-admins"]}, ())      # whole values, not parts
    assert "'tenant'" in rule.refusal({k: v for k, v in ok.items() if k != "tenant"}, ())
    assert OidcAdmission.from_config({"required_claims": {"admin": True}}).refusal({"admin": 1}, ()) is not None


def test_github_allow_list_asks_membership_and_fails_closed():
    from app.auth.admission import AdmissionUnavailable, GithubAdmission

    rule = GithubAdmission.from_config({"allowed_organizations": ["acme"], "allowed_teams": ["acme/Platform"]})
    asked = []

    def github(answers):
        def get(path):
            asked.append(path)
            return answers.get(path, (404, {"message": "Not Found"}))
        return get

    team = "orgs/acme/teams/platform/memberships/jo"
    assert rule.refusal("jo", github({"user/memberships/orgs/acme": (200, {"state": "active"})})) is None
    assert rule.refusal("jo", github({team: (200, {"state": "active"})})) is None
    assert "acme" in rule.refusal("jo", github({"user/memberships/orgs/acme": (200, {"state": "pending"})}))
    assert asked[-2:] == ["user/memberships/orgs/acme", team]
    with pytest.raises(AdmissionUnavailable):
        rule.refusal("jo", github({"user/memberships/orgs/acme": (500, None)}))


def test_failures_are_counted_per_ipv4_address_and_ipv6_network():
    from graph.audit import source_key

    assert source_key("198.51.100.7") == "198.51.100.7"
    assert source_key("::ffff:198.51.100.7") == "198.51.100.7"
    # one attacker usually holds a whole /64: rotating inside it is still one source
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert source_key(None) is None


def test_the_audit_cap_comes_from_the_environment(monkeypatch):
    from ingest.jobs.config import ConfigError
    from ingest.jobs.tasks import audit_keep

    monkeypatch.delenv("TRELLIS_AUDIT_KEEP", raising=False)
    assert audit_keep() == 200_000
    monkeypatch.setenv("TRELLIS_AUDIT_KEEP", "5000")
    assert audit_keep() == 5000
    monkeypatch.setenv("TRELLIS_AUDIT_KEEP", "lots")
    with pytest.raises(ConfigError, match="TRELLIS_AUDIT_KEEP"):
        audit_keep()
