"""The `integrations:` section: parsing, the allow-list decision, URL normal form, and sources naming hosts."""
from __future__ import annotations

import pytest

from ingest.integrations import (
    IntegrationsError, OutboundRefused, check_url, normalise_url, parse_integrations,
)
from ingest.jobs.config import ConfigError, parse_config

CONFIGURED = {"integrations": {
    "github": [{"host": "ghe.acme.com", "token_secret_name": "ghe-token"}],
    "gitlab": [{"host": "gitlab.acme.com"}],
    "allow": ["docs.acme.com", "http://10.0.0.5:8080"],
}}


def test_backstage_shaped_entries_get_their_derived_urls_and_the_public_defaults_remain():
    integrations = parse_integrations(CONFIGURED)
    ghe = integrations.by_host("ghe.acme.com")
    assert ghe.kind == "github" and ghe.api_base_url == "https://ghe.acme.com/api/v3"
    assert integrations.by_host("gitlab.acme.com").api_base_url == "https://gitlab.acme.com/api/v4"
    assert {"github.com", "gitlab.com", "bitbucket.org", "dev.azure.com"} <= set(integrations.hosts)


def test_every_problem_is_reported_at_once_with_its_place():
    with pytest.raises(IntegrationsError) as caught:
        parse_integrations({"integrations": {
            "github": [{"host": "ghe.acme.com", "token": "ghp_inline"}, {"host": "ghe.acme.com"}],
            "gitlab": [{"host": "gitlab.acme.com", "apiBaseUrl": "ftp://gitlab.acme.com"}],
            "bitbucket": [],
        }})
    text = str(caught.value)
    assert "integrations.github[0].token: credentials never go in this file" in text
    assert "integrations.gitlab[0].apiBaseUrl" in text
    assert "unknown key(s) bitbucket" in text


@pytest.mark.parametrize("url", [
    "https://ghe.acme.com/acme/payments.git",
    "git@ghe.acme.com:acme/payments.git",
    "https://docs.acme.com/handbook",
    "http://10.0.0.5:8080/repo.git",
    "https://github.com/acme/public.git",
])
def test_urls_on_integrations_are_allowed(url):
    assert check_url(url, parse_integrations(CONFIGURED))


@pytest.mark.parametrize("url", [
    "https://127.0.0.1:7474/db/neo4j/tx",          # not configured
    "http://ghe.acme.com/acme/payments.git",        # http only where the entry writes it out
    "git@docs.acme.com:acme/x.git",                 # ssh only to typed (git host) integrations
    "git://ghe.acme.com/acme/payments.git",         # no git://
    "file:///etc/passwd",
    "https://ghe.acme.com.evil.test/x.git",
    "https://ghe.acme.com@evil.test/x.git",
    "https://evil.test\\@ghe.acme.com/x.git",
])
def test_other_urls_are_refused_before_contact(url):
    with pytest.raises(OutboundRefused):
        check_url(url, parse_integrations(CONFIGURED))


def test_the_normal_form_resolves_dot_segments_escapes_case_and_default_ports():
    assert normalise_url("HTTPS://Git.Acme.com:443/org/%2e%2e/mallory/./repo.git") == \
        "https://git.acme.com/mallory/repo.git"
    assert normalise_url("git@git.acme.com:org/../mallory/repo.git") == "git@git.acme.com:mallory/repo.git"


def test_a_source_whose_host_is_not_configured_stops_the_config_from_loading():
    data = {**CONFIGURED, "sources": [
        {"name": "ok", "provider": "github", "options": {"org": "acme", "host": "ghe.acme.com"}},
        {"name": "unknown-host", "provider": "github", "options": {"org": "acme", "host": "ghe.evil.test"}},
        {"name": "off-list", "provider": "gitlab", "options": {"group": "acme", "api_url": "https://10.1.2.3/api/v4"}},
        {"name": "wrong-kind", "provider": "github", "options": {"org": "acme", "host": "gitlab.acme.com"}},
        {"name": "clone", "provider": "git", "options": {"target": "https://10.1.2.3/acme/repo.git"}},
        {"name": "k8s", "provider": "kubernetes", "options": {"clusters": [
            {"name": "prod", "url": "https://docs.acme.com"}, {"name": "x", "url": "https://10.1.2.3:6443"}]}},
    ]}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    text = str(caught.value)
    assert "sources[1].options.host" in text and "ghe.evil.test" in text
    assert "sources[2].options.api_url" in text
    assert "sources[3].options.host" in text
    assert "sources[4].options.target" in text
    assert "sources[5].options.clusters[1].url" in text and "clusters[0]" not in text
    assert "sources[0]" not in text
    config = parse_config({**CONFIGURED, "sources": data["sources"][:1]})
    assert config.integrations.by_host("ghe.acme.com").token_secret_name == "ghe-token"


def test_people_register_urls_on_integrations_and_absolute_paths_under_roots_only(tmp_path):
    from app import create_app
    from app.locations import TargetRefused, catalog_rules, checked_target

    root = tmp_path / "root"
    (root / "team").mkdir(parents=True)
    base = {"TESTING": True, "NEO4J_URI": "bolt://127.0.0.1:1", "SECRET_KEY": "s" * 32,
            "TRELLIS_ENV": "development", "TRELLIS_INTEGRATIONS": {"github": [{"host": "ghe.acme.com"}]},
            "TRELLIS_CATALOG_RULES": [{"allow": ["Component"]},
                                      {"allow": ["Component", "Group"], "target": "https://ghe.acme.com/org/*"}]}
    with create_app({**base, "TRELLIS_LOCATION_ROOTS": [str(root)]}).test_request_context():
        assert checked_target(str(root / "team")) == str((root / "team").resolve())
        assert checked_target(f"file://{root}/team/../team") == (root / "team").resolve().as_uri()
        assert checked_target("HTTPS://GHE.acme.com:443/org/../mallory/x.git") == "https://ghe.acme.com/mallory/x.git"
        assert catalog_rules("https://ghe.acme.com/org/../mallory/x.git") == ["Component"]
        assert "Group" in catalog_rules("https://ghe.acme.com/org/x.git")
        for refused in ("team", "./team", "/etc", f"{root}/../", "file:///etc", "https://github.evil.test/x.git",
                        "http://ghe.acme.com/x.git"):
            with pytest.raises(TargetRefused):
                checked_target(refused)
    with create_app(base).test_request_context():   # no roots: no server path at all
        with pytest.raises(TargetRefused, match="no location roots"):
            checked_target(str(root / "team"))
        assert checked_target("https://ghe.acme.com/org/x.git") == "https://ghe.acme.com/org/x.git"


def test_the_scaffolder_reads_the_one_integrations_section(tmp_path, monkeypatch):
    """Templates' publish/fetch/register ask the same allow-list as ingest: one section, one answer, the same
    secret per host; the scaffolder only narrows it to HTTP(S)."""
    from ingest.integrations import load_integrations
    from scaffolder.integrations import REPOSITORY_HOSTS
    from scaffolder.integrations import load_integrations as scaffolder_integrations

    config = tmp_path / "trellis.yaml"
    config.write_text("integrations:\n"
                      "  github: [{host: ghe.acme.com, token_secret_name: ghe-token}]\n"
                      "  gitlab: [{host: '127.0.0.1:8929', apiBaseUrl: 'http://127.0.0.1:8929/api/v4'}]\n"
                      "  bitbucketServer: [{host: bitbucket.acme.com}]\n")
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    monkeypatch.setenv("TRELLIS_SECRET_GHE_TOKEN", "ghe-secret")
    shared, mine = load_integrations(), scaffolder_integrations()
    for url in ("https://ghe.acme.com/acme/x", "https://ghe.acme.com/api/v3/repos/acme/x",
                "http://127.0.0.1:8929/acme/x.git", "https://github.com/acme/x", "https://bitbucket.acme.com/x"):
        assert mine.for_url(url).entry == shared.integration_for(url), url
    ghe = mine.for_url("https://ghe.acme.com/acme/x")
    assert (ghe.type, ghe.api_base_url, ghe.token()) == ("github", "https://ghe.acme.com/api/v3", "ghe-secret")
    assert ghe.allows("https://ghe.acme.com/acme/x.git") and not ghe.allows("https://evil.example/acme/x.git")
    assert mine.for_url("https://github.com/acme/x").token() is None   # public default: anonymous
    for refused in ("https://internal.acme.com/x", "http://ghe.acme.com/acme/x", "ssh://git@ghe.acme.com/acme/x",
                    "file:///etc/passwd", "http://127.0.0.1:8930/acme/x.git"):
        assert mine.for_url(refused) is None, refused
    assert mine.by_host("GHE.acme.com").host == "ghe.acme.com" and mine.by_host("internal.acme.com") is None
    assert mine.hosts(REPOSITORY_HOSTS) == ["ghe.acme.com", "127.0.0.1:8929", "github.com", "gitlab.com"]
