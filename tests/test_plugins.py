"""The plugin API: registry and entry points, secrets, the sources file, schedules, CODEOWNERS (pure)."""
from __future__ import annotations

import logging
import textwrap
from importlib.metadata import EntryPoint

import pytest

from ingest.jobs.config import ConfigError, load_config, parse_config
from ingest.jobs.logs import RedactingFilter
from ingest.jobs.schedule import beat_schedule
from plugins.api import ENTRY_POINT_GROUP, MissingSecret, PluginError, Provider, redact, secret
from plugins.builtin.git.transform import disagrees, owner_ref, owners_for, parse_codeowners
from plugins.registry import Registry, load_registry


class Dummy(Provider):
    name = "dummy"

    def sync(self, ctx):
        raise NotImplementedError


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


# ------------------------------------------------------------------------------------ registry


def test_builtin_git_provider_is_registered_through_its_entry_point():
    registry = load_registry()
    assert "git" in registry.plugins
    assert registry.provider("git").name == "git"


def test_unknown_provider_names_the_registered_ones():
    registry = Registry()
    registry.add_provider(Dummy())
    with pytest.raises(PluginError, match=r"unknown provider 'nope' \(registered providers: dummy\)"):
        registry.provider("nope")


def test_two_providers_with_one_name_are_refused():
    registry = Registry()
    registry.add_provider(Dummy())
    with pytest.raises(PluginError, match="already registered"):
        registry.add_provider(Dummy())


def test_a_failing_plugin_is_reported_and_skipped(tmp_path, monkeypatch, caplog):
    (tmp_path / "half_plugin.py").write_text(textwrap.dedent("""
        from plugins.api import Provider

        class Half(Provider):
            name = "half"
            def sync(self, ctx):
                pass

        def register(registry):
            registry.add_provider(Half())
            raise RuntimeError("database of services is gone")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.ERROR):
        registry = load_registry([
            ep("missing", "no_such_module_xyz:register"),
            ep("half", "half_plugin:register"),
            ep("git", "plugins.builtin.git:register"),
        ])
    assert registry.plugins == ["git"]
    failures = {f.plugin: f.reason for f in registry.failures}
    assert "ModuleNotFoundError" in failures["missing"]
    assert failures["half"] == "RuntimeError: database of services is gone"
    # all or nothing: the provider registered before the plugin failed is not there
    with pytest.raises(PluginError):
        registry.provider("half")
    assert "plugin half failed to load and was skipped" in caplog.text


# ------------------------------------------------------------------------------------ secrets


def test_secret_from_environment_then_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TRELLIS_SECRET_GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("TRELLIS_SECRET_GITHUB_TOKEN_FILE", raising=False)
    with pytest.raises(MissingSecret, match="set TRELLIS_SECRET_GITHUB_TOKEN or TRELLIS_SECRET_GITHUB_TOKEN_FILE"):
        secret("github-token")
    file = tmp_path / "token"
    file.write_text("from-a-file-123\n")
    monkeypatch.setenv("TRELLIS_SECRET_GITHUB_TOKEN_FILE", str(file))
    assert secret("github-token") == "from-a-file-123"
    monkeypatch.setenv("TRELLIS_SECRET_GITHUB_TOKEN", "from-the-env-456")
    assert secret("github-token") == "from-the-env-456"


def test_unreadable_secret_file_is_a_clear_error_without_the_value(tmp_path, monkeypatch):
    monkeypatch.delenv("TRELLIS_SECRET_AWS_KEY", raising=False)
    monkeypatch.setenv("TRELLIS_SECRET_AWS_KEY_FILE", str(tmp_path / "absent"))
    with pytest.raises(MissingSecret, match="cannot read the file named by TRELLIS_SECRET_AWS_KEY_FILE"):
        secret("aws-key")


def test_secrets_read_are_masked_in_messages_and_logs(monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_MASKED_ONE", "s3cr3t-value-789")
    value = secret("masked-one")
    assert redact(f"GET https://x:{value}@host failed") == "GET https://x:***@host failed"
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "token %s refused", (value,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "token *** refused"


# ------------------------------------------------------------------------------------ sources file


def test_sources_file_is_parsed_with_schedules_and_guard(tmp_path):
    file = tmp_path / "trellis.yaml"
    file.write_text(textwrap.dedent("""
        sources:
          - name: demo
            provider: git
            schedule: 300
            options: {target: ./catalog}
          - name: nightly
            provider: github
            schedule: "0 3 * * *"
            guard: {max_share: 0.2, min_count: 5}
          - name: manual-only
            provider: git
    """))
    config = load_config(file)
    assert [s.name for s in config.sources] == ["demo", "nightly", "manual-only"]
    assert config.source("demo").base_dir == str(tmp_path.resolve())
    assert config.source("nightly").max_share == 0.2
    schedule = beat_schedule(config)
    assert set(schedule) == {"source:demo", "source:nightly", "audit:prune"}      # + housekeeping
    assert schedule["source:demo"]["schedule"].total_seconds() == 300
    assert schedule["source:demo"]["args"] == ("demo", "schedule", False)
    assert schedule["source:nightly"]["schedule"].hour == {3}
    with pytest.raises(ConfigError, match="unknown source 'other'.*configured sources: demo, nightly, manual-only"):
        config.source("other")


def test_every_problem_of_a_bad_sources_file_is_listed():
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": [
            {"name": "a b", "provider": "git"},
            {"name": "x", "schedule": "every minute"},
            {"name": "x", "provider": "git", "schedule": 0},
            {"name": "y", "provider": "github", "options": {"token": "ghp_abc"}},
            {"name": "z", "provider": "git", "schedule": "61 * * * *"},
            {"name": "w", "provider": "git", "guard": {"max_share": 2}},
        ]}, path="trellis.yaml")
    message = str(err.value)
    assert message.startswith("invalid sources file trellis.yaml:")
    for expected in ("sources[0].name must be", "sources[1].provider is required",
                     "sources[1].schedule 'every minute' is not seconds or a 5-field cron",
                     "sources[2].name 'x' is used twice", "sources[2].schedule must be at least 1 second",
                     "sources[3].options.token looks like a credential",
                     "sources[4].schedule '61 * * * *' is not a valid cron expression",
                     "sources[5].guard.max_share must be a number between 0 and 1"):
        assert expected in message
    assert "ghp_abc" not in message


def test_unreadable_or_malformed_sources_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the sources file"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)


# ------------------------------------------------------------------------------------ CODEOWNERS


CODEOWNERS = """
# default
*                 @acme/platform
/services/pay/    @acme/payments-team   # payments
docs/             jane@acme.com
*.proto           @bob
"""


@pytest.mark.parametrize("path, owners", [
    ("README.md", ["@acme/platform"]),
    ("services/pay/catalog-info.yaml", ["@acme/payments-team"]),
    ("other/services/pay/catalog-info.yaml", ["@acme/platform"]),   # /services is anchored at the root
    ("a/docs/catalog-info.yaml", ["jane@acme.com"]),                 # docs/ matches at any depth
    ("services/pay/api.proto", ["@bob"]),                            # the last matching rule wins
])
def test_codeowners_last_matching_rule_wins(path, owners):
    assert owners_for(parse_codeowners(CODEOWNERS), path) == owners


def test_codeowners_owners_compare_with_backstage_owner_refs():
    assert owner_ref("@acme/Payments-Team") == "group:default/payments-team"
    assert owner_ref("@bob") == "user:default/bob"
    assert owner_ref("jane@acme.com") == "user:default/jane"
    assert not disagrees("group:default/payments-team", ["group:default/payments-team"])
    assert disagrees("group:default/payments-team", ["group:default/platform"])
    assert not disagrees("group:default/payments-team", [])   # no CODEOWNERS rule: nothing to report
