"""Software Templates through the portal: the REST API and the Create/Tasks/Dry-run pages, with real sessions
and roles on the real Neo4j. Tasks are queued through the API's own send path and run by the worker's code
(`scaffolder.tasks.execute`) in a thread, so the lifecycle (open -> processing -> completed/cancelled), the log,
cancel and re-run are the worker's; the Celery transport itself is covered by tests/test_scaffolder_worker.py.

Roles: alice is an editor (through payments), bob an editor (through search-team), carol a viewer (the
default role), dana an admin."""
from __future__ import annotations

import base64
import json
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from app import create_app
from app.auth.principal import SESSION_KEY, Principal
from graph import audit as audit_log
from graph import scaffolder as store
from ingest.sync import ingest
from tests.support.signin import add_accounts, session_client

REPO = Path(__file__).resolve().parents[1]
SECRET_VALUE = "hunter2-very-secret-token"

pytestmark = pytest.mark.timeout(180)

ORG = textwrap.dedent("""\
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: payments}
    spec: {type: team, children: [], members: [alice]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: search-team}
    spec: {type: team, children: [], members: [bob]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: alice}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: bob}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: carol}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: dana}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: System
    metadata: {name: checkout}
    spec: {owner: payments}
    """)

TEST_TEMPLATES = textwrap.dedent("""\
    apiVersion: scaffolder.backstage.io/v1beta3
    kind: Template
    metadata: {name: waiter, title: Waiter, tags: [test]}
    spec:
      owner: group:default/payments
      type: test
      parameters: []
      steps:
        - {id: wait, name: Wait, action: debug:wait, input: {seconds: 20}}
        - {id: after, name: After, action: debug:log, input: {message: AFTER THE WAIT}}
    ---
    apiVersion: scaffolder.backstage.io/v1beta3
    kind: Template
    metadata: {name: secretive, title: Secretive, tags: [test]}
    spec:
      owner: group:default/payments
      type: test
      parameters:
        - title: Token
          required: [name, token]
          properties:
            name: {type: string, title: Name}
            token: {type: string, title: Token, ui:field: Secret}
      steps:
        - id: log
          action: debug:log
          input: {message: "token=${{ secrets.token }} name=${{ parameters.name }}"}
        - id: write
          action: catalog:write
          input:
            filePath: leak.yaml
            entity: {token: "${{ secrets.token }}"}
        - id: ls
          action: debug:log
          input: {listWorkspace: with-contents}
      output:
        text:
          - {title: Token, content: "was ${{ secrets.token }}"}
    ---
    apiVersion: scaffolder.backstage.io/v1beta3
    kind: Template
    metadata:
      name: payments-only
      title: Payments only
      annotations: {trellis.io/restricted: "true"}
    spec:
      owner: group:default/payments
      type: test
      parameters: []
      steps:
        - {id: log, action: debug:log, input: {message: hi}}
    """)


@pytest.fixture(scope="module")
def env(graph_module, neo4j_uri, tmp_path_factory):
    root = tmp_path_factory.mktemp("scaffolder-api")
    (root / "org").mkdir()
    (root / "org" / "catalog-info.yaml").write_text(ORG)
    (root / "tests").mkdir()
    (root / "tests" / "catalog-info.yaml").write_text(TEST_TEMPLATES)
    git_root = root / "git"
    git_root.mkdir()
    config = root / "trellis.yaml"
    config.write_text(json.dumps({"scaffolder": {"workdir": str(root / "work"), "git_roots": [str(git_root)]}}))
    for path in (root / "org", root / "tests", REPO / "templates" / "catalog-info.yaml"):
        result = ingest(graph_module, str(path))
        assert result.ok, result.as_json()
    mp = pytest.MonkeyPatch()
    mp.setenv("TRELLIS_CONFIG", str(config))
    mp.setenv("TRELLIS_SECRET_KEY", "k" * 40)
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development",
                      "SECRET_KEY": "s" * 40, "TRELLIS_CONFIG": str(config),
                      "TRELLIS_ROLES": {"group:default/payments": "editor", "group:default/search-team": "editor",
                                        "user:default/dana": "admin"},
                      "TRELLIS_LOCATION_ROOTS": [str(root)]})
    yield {"app": app, "graph": graph_module, "git": git_root, "root": root}
    app.extensions["trellis.graph"].close()
    mp.undo()


@pytest.fixture(autouse=True)
def worker_in_thread(env, monkeypatch):
    """The API's send path queues to this thread instead of Redis; the worker's code runs the task."""
    from scaffolder import service
    from scaffolder.sealing import seal
    from scaffolder.tasks import execute

    threads: list[threading.Thread] = []

    def enqueue(task_id, task_secrets):
        thread = threading.Thread(target=execute, args=(env["graph"], task_id, seal(task_secrets)), daemon=True)
        thread.start()
        threads.append(thread)

    monkeypatch.setattr(service, "enqueue", enqueue)
    yield
    for thread in threads:
        thread.join(30)


@pytest.fixture(scope="module", autouse=True)
def accounts(env):
    add_accounts(env["graph"], ("alice", "bob", "carol", "dana"))


def client_for(env, user: str | None):
    return session_client(env["app"], user)


def wait_task(client, task_id: str, statuses=("completed", "failed", "cancelled"), timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = client.get(f"/api/v1/tasks/{task_id}").get_json()
        if task["status"] in statuses:
            return task
        assert time.monotonic() < deadline, task
        time.sleep(0.1)


def flask_values(env, name: str) -> dict:
    return {"name": name, "owner": "group:default/payments", "system": "system:default/checkout",
            "description": "Sells gift cards", "remote": str(env["git"] / f"{name}.git"), "port": 8081}


# ------------------------------------------------------------------------------------------ templates

def test_templates_are_listed_filtered_and_restricted_ones_hidden(env):
    carol = client_for(env, "carol")
    body = carol.get("/api/v1/templates").get_json()
    refs = {t["ref"] for t in body["items"]}
    assert {"template:default/flask-service", "template:default/python-library", "template:default/techdocs-site",
            "template:default/waiter"} <= refs
    assert "template:default/payments-only" not in refs and body["can_run"] is False
    assert carol.get("/api/v1/templates/default/payments-only/parameter-schema").status_code == 404
    alice = client_for(env, "alice")
    body = alice.get("/api/v1/templates?type=library").get_json()
    assert [t["ref"] for t in body["items"]] == ["template:default/python-library"] and body["can_run"] is True
    assert "template:default/payments-only" in {t["ref"] for t in alice.get("/api/v1/templates").get_json()["items"]}
    schema = alice.get("/api/v1/templates/default/flask-service/parameter-schema").get_json()
    assert schema["title"] == "Flask service"
    assert [s["title"] for s in schema["steps"]] == ["About it", "Service", "Repository"]
    assert schema["steps"][0]["schema"]["properties"]["owner"]["ui:field"] == "OwnerPicker"
    actions = {a["id"] for a in alice.get("/api/v1/scaffolder/actions").get_json()["items"]}
    assert {"fetch:template", "publish:git", "publish:github", "catalog:register", "fs:delete"} <= actions


def test_create_page_lists_templates_and_renders_the_form(env):
    alice = client_for(env, "alice")
    page = alice.get("/create").get_data(as_text=True)
    assert "Flask service" in page and "Python library" in page
    page = alice.get("/create?type=library").get_data(as_text=True)
    assert "Python library" in page and "Flask service" not in page
    form = alice.get("/create/templates/default/flask-service").get_data(as_text=True)
    assert 'name="name"' in form and "group:default/payments" in form     # the owner picker offers groups
    response = alice.post("/create/templates/default/flask-service", data={"name": "Not A Name", "intent": "review"})
    assert response.status_code == 400
    assert "does not match" in response.get_data(as_text=True) or "pattern" in response.get_data(as_text=True)


# ------------------------------------------------------------------------------------------ permissions

def test_a_viewer_can_neither_run_nor_dry_run_and_is_audited(env):
    carol = client_for(env, "carol")
    before = store.count_tasks(env["graph"])
    body = {"templateRef": "template:default/flask-service", "values": flask_values(env, "carol-svc")}
    for request in (body, {**body, "dryRun": True},
                    {"template": {"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
                                  "metadata": {"name": "x"}, "spec": {"steps": []}}, "dryRun": True}):
        response = carol.post("/api/v1/tasks", json=request)
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"]["code"]
    assert store.count_tasks(env["graph"]) == before
    assert not (env["git"] / "carol-svc.git").exists()
    denied = audit_log.list_events(env["graph"], action="scaffolder.task.create", limit=10)
    assert any(e["outcome"] == "denied" for e in denied)
    assert carol.post("/create/templates/default/flask-service",
                      data={"intent": "run", "values_json": json.dumps(flask_values(env, "carol-svc"))}).status_code == 403
    assert carol.post("/create/dry-run", data={"template": "template:default/waiter"}).status_code == 403
    assert store.count_tasks(env["graph"]) == before


def test_anonymous_callers_get_401(env):
    anonymous = client_for(env, None)
    for method, url in [("GET", "/api/v1/templates"), ("POST", "/api/v1/tasks"), ("GET", "/api/v1/tasks"),
                        ("GET", "/api/v1/tasks/x"), ("POST", "/api/v1/tasks/x/cancel")]:
        assert anonymous.open(url, method=method, json={}).status_code == 401, url


def test_run_role_is_configurable(env, neo4j_uri):
    """`permissions: {Template: {run: viewer}}` lets viewers run; the default needs editor."""
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development", "SECRET_KEY": "s" * 40,
                      "TRELLIS_PERMISSIONS": {"Template": {"run": "viewer"}}})
    try:
        client = app.test_client()
        principal = Principal(provider="local", subject="carol", username="carol", user_ref="user:default/carol")
        with client.session_transaction() as session:
            session[SESSION_KEY] = principal.to_session()
            session["_user_id"] = principal.id
        assert client.get("/api/v1/templates").get_json()["can_run"] is True
    finally:
        app.extensions["trellis.graph"].close()


# ------------------------------------------------------------------------------------------ lifecycle

def test_a_run_creates_the_repository_registers_the_entity_and_is_visible_to_its_owner_only(env):
    alice = client_for(env, "alice")
    response = alice.post("/api/v1/tasks", json={"templateRef": "template:default/flask-service",
                                                  "values": flask_values(env, "gift-cards")})
    assert response.status_code == 201, response.get_json()
    task_id = response.get_json()["id"]
    assert response.headers["Location"].endswith(f"/api/v1/tasks/{task_id}")
    task = wait_task(alice, task_id)
    assert task["status"] == "completed", task.get("error")
    assert [s["status"] for s in task["steps"]] == ["completed"] * 3
    assert task["template_etag"] and task["template_source"].startswith("file:")       # the revision it ran
    assert task["values"]["name"] == "gift-cards" and task["created_by_label"]
    links = {link["title"]: link for link in task["output"]["links"]}
    assert links["Open in catalog"]["entityRef"] == "component:default/gift-cards"
    # the repository exists, with the rendered skeleton
    files = subprocess.run(["git", "--git-dir", str(env["git"] / "gift-cards.git"), "ls-tree", "-r", "--name-only",
                            "main"], capture_output=True, text=True, check=True).stdout.split()
    assert {"catalog-info.yaml", "src/gift_cards/app.py", "tests/test_app.py", "mkdocs.yml"} <= set(files)
    # the entity is in the catalog, owned by the chosen team, part of the chosen system
    entity = alice.get("/api/v1/entities/by-name/component/default/gift-cards").get_json()
    relations = {(r["type"], r["targetRef"]) for r in entity["relations"]}
    assert ("ownedBy", "group:default/payments") in relations and ("partOf", "system:default/checkout") in relations
    # the log, by polling with `after`
    events = alice.get(f"/api/v1/tasks/{task_id}/events").get_json()
    assert events["status"] == "completed" and len(events["items"]) > 5
    last = events["items"][-1]["seq"]
    assert alice.get(f"/api/v1/tasks/{task_id}/events?after={last}").get_json()["items"] == []
    # pages: the Tasks list and the task with its log
    tasks_page = alice.get("/create/tasks").get_data(as_text=True)
    assert task_id in tasks_page and "Flask service" in tasks_page and "completed" in tasks_page
    task_page = alice.get(f"/create/tasks/{task_id}").get_data(as_text=True)
    assert "Render the service skeleton" in task_page and "/catalog/default/component/gift-cards" in task_page
    # someone else's task is a 404; an admin sees it
    bob = client_for(env, "bob")
    assert bob.get(f"/api/v1/tasks/{task_id}").status_code == 404
    assert bob.get(f"/create/tasks/{task_id}").status_code == 404
    assert bob.post(f"/api/v1/tasks/{task_id}/cancel").status_code == 404
    assert task_id not in {t["id"] for t in bob.get("/api/v1/tasks").get_json()["items"]}
    dana = client_for(env, "dana")
    assert dana.get(f"/api/v1/tasks/{task_id}").status_code == 200
    assert task_id in {t["id"] for t in dana.get("/api/v1/tasks?createdBy=all").get_json()["items"]}


def test_invalid_values_get_per_field_messages_and_nothing_runs(env):
    alice = client_for(env, "alice")
    before = store.count_tasks(env["graph"])
    response = alice.post("/api/v1/tasks", json={"templateRef": "template:default/flask-service",
                                                  "values": {"name": "Bad Name", "port": 80}})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_values"
    fields = {f["field"] for f in error["details"]["fields"]}
    assert {"name", "port", "owner", "remote"} <= fields
    assert alice.post("/api/v1/tasks", json={"templateRef": "template:default/nope"}).status_code == 404
    assert alice.post("/api/v1/tasks", json={"values": {}}).status_code == 400
    assert alice.post("/api/v1/tasks", json={"templateRef": "template:default/waiter", "dryRun": "yes"}).status_code == 400
    assert store.count_tasks(env["graph"]) == before


def test_cancel_stops_the_wait_and_later_steps_never_run(env):
    alice = client_for(env, "alice")
    task_id = alice.post("/api/v1/tasks", json={"templateRef": "template:default/waiter"}).get_json()["id"]
    wait_task(alice, task_id, statuses=("processing",))
    time.sleep(0.5)
    response = alice.post(f"/api/v1/tasks/{task_id}/cancel")
    assert response.status_code == 202
    started = time.monotonic()
    task = wait_task(alice, task_id)
    assert task["status"] == "cancelled" and time.monotonic() - started < 10
    assert {s["id"]: s["status"] for s in task["steps"]} == {"wait": "cancelled", "after": "cancelled"}
    messages = [e["message"] for e in alice.get(f"/api/v1/tasks/{task_id}/events").get_json()["items"]]
    assert not any("AFTER THE WAIT" in m for m in messages)
    # re-run with the same values: a new task that records what it re-runs
    response = alice.post(f"/api/v1/tasks/{task_id}/rerun")
    assert response.status_code == 201 and response.get_json()["rerunOf"] == task_id
    new_id = response.get_json()["id"]
    alice.post(f"/api/v1/tasks/{new_id}/cancel")
    assert wait_task(alice, new_id)["status"] == "cancelled"
    assert client_for(env, "carol").post(f"/api/v1/tasks/{task_id}/rerun").status_code == 403


def test_secrets_never_reach_logs_outputs_records_or_the_audit(env, neo4j_driver):
    alice = client_for(env, "alice")
    response = alice.post("/api/v1/tasks", json={"templateRef": "template:default/secretive",
                                                  "values": {"name": "x", "token": SECRET_VALUE}})
    assert response.status_code == 201, response.get_json()
    task_id = response.get_json()["id"]
    task = wait_task(alice, task_id)
    assert task["status"] == "completed", task.get("error")
    events = alice.get(f"/api/v1/tasks/{task_id}/events").get_json()
    messages = [e["message"] for e in events["items"]]
    assert "***" in messages and any("leak.yaml" in m for m in messages), messages   # masked where echoed
    # everything stored in the database: task and event nodes, audit entries
    rows, _, _ = neo4j_driver.execute_query("MATCH (n) WHERE n:ScaffolderTask OR n:ScaffolderEvent OR n:AuditEvent "
                                            "RETURN properties(n) AS p", database_="neo4j")
    stored = json.dumps([r["p"] for r in rows], default=str)
    assert SECRET_VALUE not in stored
    assert SECRET_VALUE not in json.dumps(task) + json.dumps(events)
    assert SECRET_VALUE not in alice.get(f"/create/tasks/{task_id}").get_data(as_text=True)
    assert task["secret_keys"] == ["token"] and task["values"].get("token") in (None, "***")
    # a dry run echoes nothing either
    result = alice.post("/api/v1/tasks", json={"templateRef": "template:default/secretive", "dryRun": True,
                                                "values": {"name": "x", "token": SECRET_VALUE}}).get_json()
    assert SECRET_VALUE not in json.dumps(result)
    # a re-run needs the secrets again (they were never stored)
    response = alice.post(f"/api/v1/tasks/{task_id}/rerun")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "secrets_required"


# ------------------------------------------------------------------------------------------ dry run

def test_dry_run_of_a_registered_template_shows_files_and_the_entity_in_the_graph_with_no_side_effects(env):
    alice = client_for(env, "alice")
    before = store.count_tasks(env["graph"])
    response = alice.post("/api/v1/tasks", json={"templateRef": "template:default/flask-service", "dryRun": True,
                                                  "values": flask_values(env, "dry-svc")})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["status"] == "completed", result["error"]
    steps = {s["id"]: s["status"] for s in result["steps"]}
    assert steps == {"fetch": "completed", "publish": "skipped", "register": "skipped"}
    files = {f["path"]: f["text"] for f in result["files"]}
    assert "name: dry-svc" in files["catalog-info.yaml"] and "src/dry_svc/app.py" in files
    assert result["catalog"]["files"] == ["catalog-info.yaml"]
    entity = next(e for e in result["catalog"]["entities"] if e["ref"] == "component:default/dry-svc")
    assert entity["owner"] == {"type": "ownedBy", "target": "group:default/payments", "state": "exists",
                               "title": None}
    assert entity["system"]["target"] == "system:default/checkout" and entity["exists"] is False
    assert not (env["git"] / "dry-svc.git").exists() and store.count_tasks(env["graph"]) == before
    assert alice.get("/api/v1/entities/by-name/component/default/dry-svc").status_code == 404
    assert audit_log.list_events(env["graph"], action="scaffolder.dry_run", limit=5)


def test_dry_run_of_a_pasted_template_with_uploaded_files(env):
    alice = client_for(env, "alice")
    template = textwrap.dedent("""\
        apiVersion: scaffolder.backstage.io/v1beta3
        kind: Template
        metadata: {name: pasted}
        spec:
          owner: group:default/payments
          type: service
          parameters: [{properties: {name: {type: string}}}]
          steps:
            - {id: fetch, action: fetch:template, input: {url: ./skeleton, values: {name: "${{ parameters.name }}"}}}
        """)
    contents = [{"path": "skeleton/README.md", "base64Content": base64.b64encode(b"# ${{ values.name }}\n").decode()},
                {"path": "skeleton/${{ values.name }}.py", "base64Content": base64.b64encode(b"x = 1\n").decode()}]
    result = alice.post("/api/v1/tasks", json={"template": template, "dryRun": True, "values": {"name": "pasta"},
                                                "directoryContents": contents}).get_json()
    assert result["status"] == "completed", result
    assert {f["path"]: f["text"] for f in result["files"]} == {"README.md": "# pasta\n", "pasta.py": "x = 1\n"}
    bad = alice.post("/api/v1/tasks", json={"template": template, "dryRun": True, "directoryContents": [
        {"path": "../../escape.txt", "base64Content": "eA=="}]})
    assert bad.status_code == 400
    assert alice.post("/api/v1/tasks", json={"template": template}).status_code == 400   # inline: dry runs only
    page = alice.post("/create/dry-run", data={"template": "template:default/python-library",
                                               "values": "name: lib-one\nowner: group:default/payments\n"
                                                         f"remote: {env['git']}/lib-one.git\n"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "catalog-info.yaml" in text and "lib-one" in text
