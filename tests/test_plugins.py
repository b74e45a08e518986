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


# ------------------------------------------------------------------------------------ the door (issue 14)

import shutil
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

from plugins.api import (API_VERSION, PUBLIC, EntityTab, OverviewCard, Page, Predicate, TemplateAction, Webhook,
                         WebhookError, api_incompatibility)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "example-plugin"


def _html(text: str):
    return lambda page: text


def _plugin_module(tmp_path, monkeypatch, name: str, body: str) -> EntryPoint:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    return ep(name, f"{name}:register")


@pytest.mark.parametrize("declared, loads", [
    (None, True), ("1.0", True), (API_VERSION, True),
    ("1.9", False),      # a newer minor may use what this Trellis lacks
    ("2.0", False), ("0.9", False), ("one", False), (1, False),
])
def test_a_plugin_built_for_another_api_version_is_isolated_with_the_reason(tmp_path, monkeypatch, declared, loads):
    version = "" if declared is None else f"TRELLIS_API_VERSION = {declared!r}"
    name = f"versioned_{abs(hash(repr(declared)))}"
    entry = _plugin_module(tmp_path, monkeypatch, name, f"""
        from plugins.api import Provider
        {version}

        class P(Provider):
            name = "versioned"
            def sync(self, ctx):
                pass

        def register(registry):
            registry.add_provider(P())
    """)
    registry = load_registry([entry, ep("git", "plugins.builtin.git:register")])
    assert "git" in registry.plugins                      # the others load regardless
    if loads:
        assert name in registry.plugins and registry.provider("versioned")
    else:
        assert registry.plugins == ["git"]
        (failure,) = registry.failures
        assert failure.plugin == name and failure.reason.startswith("PluginError: ")
        assert repr(declared) in failure.reason or f"plugin API {declared}" in failure.reason
        with pytest.raises(PluginError):
            registry.provider("versioned")


def test_version_rule():
    assert api_incompatibility("1.0") is None
    assert "this Trellis offers 1.0" in api_incompatibility("2.0")


def test_every_builtin_declares_the_current_api_and_loads():
    registry = load_registry()
    assert registry.failures == []
    for name in ("opensearch", "techdocs", "scaffolder", "github"):
        module = __import__(f"plugins.builtin.{name}", fromlist=["register"])
        assert module.TRELLIS_API_VERSION == API_VERSION, name


def test_declarable_permissions_are_the_portal_policy_actions():
    from app.auth.policy import ACTIONS
    from plugins.api import PERMISSIONS

    assert set(PERMISSIONS) == set(ACTIONS)


@pytest.mark.parametrize("item", [
    EntityTab(id="t", title="T", render=_html(""), permission="superuser"),
    EntityTab(id="t", title="T", render=_html(""), permission=PUBLIC),       # public is for webhooks only
    EntityTab(id="t", title="T", render=_html(""), permission=None),         # a permission must be declared
    OverviewCard(id="c", title="C", render=_html(""), permission="reader"),
    Page(id="p", title="P", render=_html(""), permission=""),
    Webhook(id="w", handle=lambda r: ({}, 200), permission="everyone"),
    TemplateAction(id="x:y", handler=lambda ctx: None, permission="root"),
])
def test_an_undeclared_permission_is_rejected_at_registration(item):
    registry = Registry()
    add = {EntityTab: registry.add_tab, OverviewCard: registry.add_card, Page: registry.add_page,
           Webhook: registry.add_webhook, TemplateAction: registry.add_action}[type(item)]
    with pytest.raises(PluginError, match="declares the permission"):
        add(item)


def test_a_plugin_with_a_bad_permission_is_reported_and_skipped(tmp_path, monkeypatch):
    entry = _plugin_module(tmp_path, monkeypatch, "greedy_plugin", """
        from plugins.api import EntityTab

        def register(registry):
            registry.add_tab(EntityTab(id="greedy", title="G", render=lambda p: "", permission="god"))
    """)
    registry = load_registry([entry])
    assert registry.plugins == [] and registry.tabs() == []
    assert "declares the permission 'god'" in registry.failures[0].reason


def test_tab_ids_are_checked_and_portal_tabs_cannot_be_replaced():
    registry = Registry()
    with pytest.raises(PluginError, match="one of the portal's own tabs"):
        registry.add_tab(EntityTab(id="relations", title="R", render=_html(""), permission="read"))
    with pytest.raises(PluginError, match="invalid tab id"):
        registry.add_tab(EntityTab(id="../x", title="R", render=_html(""), permission="read"))
    with pytest.raises(PluginError, match="not a portal tab"):
        registry.add_tab(EntityTab(id="x", title="R", render=_html(""), permission="read", after="nope"))
    registry.add_webhook(Webhook(id="w", handle=lambda r: ({}, 200), permission=PUBLIC))
    with pytest.raises(PluginError, match="already registered"):
        registry.add_webhook(Webhook(id="w", handle=lambda r: ({}, 200), permission=PUBLIC))


def test_portal_tabs_known_to_the_door_are_the_portal_tabs():
    from app.web.helpers import TAB_TITLES
    from plugins.registry import PORTAL_TABS

    assert set(PORTAL_TABS) == set(TAB_TITLES)


def test_predicate_kind_type_and_annotation():
    entity = {"kind": "Component", "metadata": {"annotations": {"a/b": "x", "empty": ""}},
              "spec": {"type": "Service"}}
    assert Predicate().matches(entity)
    assert Predicate(kinds=("component",), types=("service",), annotation="a/b").matches(entity)
    assert not Predicate(kinds=("api",)).matches(entity)
    assert not Predicate(types=("website",)).matches(entity)
    assert not Predicate(annotation="empty").matches(entity)
    assert not Predicate(annotation="a/b").matches({"kind": "Component", "metadata": {"annotations": None}})


def test_builtins_on_the_door_import_only_plugins_api_and_their_own_package():
    import ast

    for package in ("opensearch", "techdocs", "scaffolder"):
        # opensearch/server.py (local server supervision for tests) moves to servers/ (issue 14, services)
        files = sorted(f for f in (REPO / "plugins" / "builtin" / package).glob("*.py") if f.name != "server.py")
        files += [REPO / "plugins" / "builtin" / "github" / "webhook.py"] if package == "opensearch" else []
        for file in files:
            for node in ast.walk(ast.parse(file.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                for name in names:
                    top = name.split(".")[0]
                    if top in ("graph", "ingest", "app", "docs_builder", "scaffolder", "plugins", "servers"):
                        own = f"plugins.builtin.{file.parent.name}"
                        assert name == "plugins.api" or name == own or name.startswith(own + "."), (file, name)


# ------------------------------------------------------------------------------------ the example plugin


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """The example plugin built as a wheel and installed (no network, no build isolation) on its own."""
    work = tmp_path_factory.mktemp("example-wheel")
    src = work / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(src)],
                   check=True)
    (wheel,) = (work / "dist").glob("trellis_example_plugin-*.whl")
    site = work / "site"
    subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(site), str(wheel)], check=True)
    return site


@pytest.fixture
def example_entry(example_site, monkeypatch) -> EntryPoint:
    monkeypatch.syspath_prepend(str(example_site))
    (dist,) = [d for d in distributions(path=[str(example_site)]) if d.metadata["Name"] == "trellis-example-plugin"]
    (entry,) = [e for e in dist.entry_points if e.group == ENTRY_POINT_GROUP]
    return entry


def test_the_example_plugin_wheel_registers_every_extension_point(example_entry):
    registry = load_registry([example_entry])
    assert registry.failures == [] and registry.plugins == ["example"]
    assert registry.provider("example-inventory").name == "example-inventory"
    assert len(registry.after_ingest_hooks()) == 1
    assert [w.id for w in registry.webhooks()] == ["example-inventory"]
    assert registry.webhook("example-inventory").permission == "ingest"
    assert [t.id for t in registry.tabs()] == ["inventory"] and [c.id for c in registry.cards()] == ["inventory"]
    assert [p.id for p in registry.pages()] == ["example-inventory-runs"]
    assert registry.action("example:hello").supports_dry_run
    assert registry.origin("tab", "inventory") == "example"


def test_the_example_transform_marks_the_inventory_file():
    sys.path.insert(0, str(EXAMPLE))
    try:
        from trellis_example_plugin import INVENTORY_ANNOTATION, to_entity
    finally:
        sys.path.remove(str(EXAMPLE))
    entity = to_entity({"name": "billing", "owner": "payments"}, "inventory.yaml")
    assert entity["metadata"]["annotations"] == {INVENTORY_ANNOTATION: "inventory.yaml"}
    assert entity["spec"] == {"type": "service", "lifecycle": "production", "owner": "payments"}


# ------------------------------------------------------------------------------------ mounted in the portal


def _boom(_context):
    raise RuntimeError("the plugin's backend is down")


@pytest.fixture
def door_portal(graph, neo4j_uri, tmp_path, monkeypatch, example_entry):
    """A portal whose guests are viewers, with the example plugin, TechDocs and a plugin of test extensions."""
    import plugins.registry as plugin_registry
    from app import create_app
    from ingest.sync import ingest
    from tests.conftest import neo4j_auth
    from tests.portal_helpers import with_csrf

    registry = load_registry([example_entry, ep("techdocs", "plugins.builtin.techdocs:register")])
    assert registry.failures == []
    staged = Registry()
    staged.add_tab(EntityTab(id="secret-tab", title="Secret", render=_html("SECRET-PANEL"), permission="write"))
    staged.add_tab(EntityTab(id="broken", title="Broken", render=_boom, permission="read"))
    staged.add_card(OverviewCard(id="broken-card", title="Broken card", render=_boom, permission="read"))
    staged.add_card(OverviewCard(id="admin-card", title="Admin card", render=_html("ADMIN-CARD"),
                                 permission="admin"))
    staged.add_page(Page(id="admin-page", title="Admin page", render=_html("ADMIN-PAGE"), permission="admin"))
    staged.add_page(Page(id="broken-page", title="Broken page", render=_boom, permission="read"))
    calls = []
    staged.add_webhook(Webhook(id="needs-ingest", handle=lambda r: calls.append(r) or ({"ok": True}, 200),
                               permission="ingest"))
    staged.add_webhook(Webhook(id="crashing", handle=_boom, permission=PUBLIC))
    staged.add_webhook(Webhook(id="refusing", permission=PUBLIC,
                               handle=lambda r: (_ for _ in ()).throw(WebhookError(409, "busy", "try later"))))
    registry.merge(staged, "tests")
    monkeypatch.setattr(plugin_registry, "_cached", registry)

    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(textwrap.dedent("""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: billing
          annotations: {example.com/inventory-file: "<inventory>.yaml"}
        spec: {type: service, lifecycle: production, owner: group:default/payments}
    """))
    run = ingest(graph, str(folder))
    assert run.added == 1
    auth = neo4j_auth()
    config = {"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development",
              "TRELLIS_GUEST_ROLE": "viewer", "SECRET_KEY": "k" * 32}
    if auth:
        config.update(NEO4J_USER=auth[0], NEO4J_PASSWORD=auth[1])
    app = create_app(config)
    yield with_csrf(app.test_client()), run, calls
    app.extensions["trellis.graph"].close()


PAGE = "/catalog/default/component/billing"


def test_plugin_tabs_and_cards_show_what_the_reader_may_see_and_a_failing_one_is_isolated(door_portal):
    client, _, _ = door_portal
    response = client.get(PAGE)
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-tab="inventory"' in text and 'data-tab="broken"' in text
    assert 'data-tab="secret-tab"' not in text                     # declares "write": viewers do not see it
    assert "From the service inventory <code>&lt;inventory&gt;.yaml</code>" in text   # the example's card
    assert 'data-card="broken-card"' in text and "This card could not be shown" in text
    assert "ADMIN-CARD" not in text and 'data-card="admin-card"' not in text
    assert "the plugin's backend is down" not in text              # the error is logged, not shown


def test_a_plugin_tab_is_refused_to_a_reader_without_its_permission(door_portal):
    client, _, _ = door_portal
    response = client.get(PAGE + "?tab=secret-tab")
    assert response.status_code == 403
    assert "SECRET-PANEL" not in response.get_data(as_text=True)


def test_a_raising_tab_renders_the_page_with_a_notice(door_portal, caplog):
    client, _, _ = door_portal
    with caplog.at_level(logging.ERROR):
        response = client.get(PAGE + "?tab=broken")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "The Broken tab could not be shown" in text and "<h1>billing</h1>" in text
    assert "plugin tests: tab broken failed to render" in caplog.text


def test_the_example_tab_and_the_after_ingest_hook_page(door_portal):
    client, run, _ = door_portal
    tab = client.get(PAGE + "?tab=inventory")
    assert tab.status_code == 200
    assert "inventory file <code>&lt;inventory&gt;.yaml</code>" in tab.get_data(as_text=True)
    page = client.get("/plugins/example-inventory-runs")
    assert page.status_code == 200 and run.run in page.get_data(as_text=True)   # recorded by the hook


def test_plugin_pages_check_their_permission_and_isolate_failures(door_portal):
    client, _, _ = door_portal
    denied = client.get("/plugins/admin-page")
    assert denied.status_code == 403 and "ADMIN-PAGE" not in denied.get_data(as_text=True)
    broken = client.get("/plugins/broken-page")
    assert broken.status_code == 502 and "its plugin failed" in broken.get_data(as_text=True)
    assert client.get("/plugins/nope").status_code == 404


def test_a_webhook_declaring_a_permission_needs_a_token_not_a_session(door_portal):
    client, _, calls = door_portal
    response = client.post("/api/v1/webhooks/needs-ingest", data=b"{}",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_required"
    assert calls == []                                             # the plugin was never called


def test_webhook_refusals_and_failures_are_json_errors(door_portal):
    client, _, _ = door_portal
    refused = client.post("/api/v1/webhooks/refusing", data=b"{}")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "busy"
    crashed = client.post("/api/v1/webhooks/crashing", data=b"{}")
    assert crashed.status_code == 502 and crashed.get_json()["error"]["code"] == "plugin_failed"
    unknown = client.post("/api/v1/webhooks/nope", data=b"{}")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "unknown_webhook"


# ------------------------------------------------------------------------------------ TechDocs through the door


def _event(result, calls):
    from plugins.api import AfterIngest

    return AfterIngest(graph=None, result=result, search_engine_name="neo4j", search_engine=lambda: None,
                       queue_task=lambda name, args, queue=None: calls.append((name, tuple(args), queue)) or True)


def test_techdocs_queues_the_docs_rebuild_check_through_the_door(monkeypatch):
    from types import SimpleNamespace

    from plugins.builtin.techdocs import docs_after_ingest

    monkeypatch.delenv("TRELLIS_DOCS_ASYNC", raising=False)
    changed = SimpleNamespace(dry_run=False, added=1, updated=0, run="run-1")
    calls: list = []
    docs_after_ingest(_event(changed, calls))
    assert calls == []                                    # no worker configured: nothing queued
    monkeypatch.setenv("TRELLIS_DOCS_ASYNC", "1")
    docs_after_ingest(_event(SimpleNamespace(dry_run=True, added=1, updated=0, run="r"), calls))
    docs_after_ingest(_event(SimpleNamespace(dry_run=False, added=0, updated=0, run="r"), calls))
    assert calls == []                                    # dry runs and unchanged runs queue nothing
    docs_after_ingest(_event(changed, calls))
    assert calls == [("trellis.build_changed_docs", (None,), "docs")]


def test_the_task_the_techdocs_plugin_queues_is_the_docs_builders():
    from docs_builder import tasks
    from plugins.builtin import techdocs

    assert tasks.build_changed_docs.name == techdocs.BUILD_CHANGED_TASK and tasks.QUEUE == techdocs.DOCS_QUEUE


def test_the_docs_tab_follows_overview_on_entities_with_techdocs_ref():
    from app.web.helpers import tab_title, tabs_for

    documented = {"kind": "Component", "metadata": {"name": "x", "annotations": {"backstage.io/techdocs-ref": "dir:."}}}
    assert tabs_for("component", documented)[:2] == ("overview", "docs") and tab_title("docs") == "Docs"
    assert "docs" not in tabs_for("component", {"kind": "Component", "metadata": {"name": "x"}})
