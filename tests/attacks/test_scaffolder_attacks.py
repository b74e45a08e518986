"""A template author attacking the worker that runs their template (in-process, through the real runner and the
built-in actions): escaping the sandbox (SSTI), leaving the workspace (traversal, symlinks, targetPath tricks),
reading the server's files, reaching the server's network or using its credentials for other hosts, and
exhausting memory or time with expressions, `each` and YAML. Every attack must fail its step with a clear error
and gain nothing: no Python internals in any log or file, nothing written or read outside the workspace, no
request reaching the server that was not allowed."""
from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scaffolder.integrations import parse_integrations
from tests.scaffolder_helpers import files_of, log_text, run, template

pytestmark = pytest.mark.timeout(120)

INTERNALS = ("<class", "__globals__", "<built-in", "<module", "<function", "object at 0x", "subprocess", "os.system",
             "root:x:0:0")


def log_step(message: str) -> dict:
    return {"id": "attack", "action": "debug:log", "input": {"message": message}}


def assert_blocked(result, recorder, *, name: str) -> None:
    shown = log_text(recorder) + repr(result.output) + repr(result.error) + repr(files_of(result))
    assert result.status == "failed", (name, result.status, shown[:500])
    assert not any(marker in shown for marker in INTERNALS), (name, shown[:800])


# ------------------------------------------------------------------------------------------ sandbox escape

SSTI = [
    "${{ ''.__class__.__mro__ }}",
    "${{ ''.__class__.__mro__[1].__subclasses__() }}",
    "${{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "${{ joiner.__init__.__globals__ }}",
    "${{ lipsum.__globals__['os'].popen('id').read() }}",
    "${{ namespace.__init__.__globals__ }}",
    "${{ range.__self__ }}",
    "${{ self.__init__.__globals__ }}",
    "${{ parameters.__class__.__base__.__subclasses__() }}",
    "${{ parameters.items.__func__ }}",
    "${{ '{0.__class__.__mro__}'.format('') }}",
    "${{ '{0.__init__.__globals__}'.format(cycler) }}",
    "${{ '%s' | format(cycler.__init__) }}",
    "${{ ('a' | attr('__class__')) }}",
    "${{ parameters | attr('__class__') | attr('__mro__') }}",
    "${{ config }}${{ request.environ }}${{ self._TemplateReference__context }}",
    "{% set x = cycler.__init__ %}${{ x.__globals__ }}",
    "${{ 'x'.constructor.constructor('return process')() }}",
]


@pytest.mark.parametrize("payload", SSTI)
def test_ssti_payloads_in_a_step_input_reach_no_python_internals(tmp_path, payload):
    result, recorder = run(tmp_path, template([log_step(payload)]), values={"name": "n"})
    if result.status == "completed":           # refused quietly as undefined is acceptable only if nothing leaks
        shown = log_text(recorder)
        assert not any(m in shown for m in INTERNALS), shown
        assert "uid=" not in shown
        return
    assert_blocked(result, recorder, name=payload)


@pytest.mark.parametrize("payload", SSTI[:8])
def test_ssti_payloads_in_skeleton_names_and_contents_are_refused(tmp_path, payload):
    files = {"skeleton/ok.txt": payload, "skeleton/x/${{ values.name }}": "x"}
    step = {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "n"}}}
    result, recorder = run(tmp_path / "contents", template([step]), files=files)
    assert result.status != "completed" or not any(m in repr(files_of(result)) for m in INTERNALS)
    files = {f"skeleton/{payload.replace('/', '')}": "x"}
    result, recorder = run(tmp_path / "names", template([step]), files=files)
    assert not any(m in repr(sorted(files_of(result))) + log_text(recorder) for m in INTERNALS)


def test_no_command_ran(tmp_path):
    marker = tmp_path / "pwned"
    payload = "${{ cycler.__init__.__globals__.os.system('touch %s') }}" % marker
    result, recorder = run(tmp_path, template([log_step(payload)]))
    assert result.status == "failed" and not marker.exists()
    assert "unsafe" in result.error or "not safely accessible" in result.error or "attribute" in result.error


# ------------------------------------------------------------------------------------------ leaving the workspace

def _fetch(url: str = "./skeleton", **extra) -> dict:
    return {"id": "fetch", "action": "fetch:template", "input": {"url": url, "values": {"name": "n"}, **extra}}


@pytest.mark.parametrize("name, steps, files", [
    ("name climbs out", [_fetch()], {"skeleton/${{ '../../../escaped' }}.txt": "x"}),
    ("name renders ..", [_fetch()], {"skeleton/${{ '..' }}/${{ '..' }}/escaped.txt": "x"}),
    ("targetPath ..", [_fetch(targetPath="../../escaped")], {"skeleton/a.txt": "x"}),
    ("targetPath absolute", [_fetch(targetPath="{tmp}/escaped")], {"skeleton/a.txt": "x"}),
    ("fetch:plain:file target", [{"id": "f", "action": "fetch:plain:file",
                                  "input": {"url": "./a.txt", "targetPath": "../escaped"}}], {"a.txt": "x"}),
    ("catalog:write filePath", [{"id": "w", "action": "catalog:write",
                                 "input": {"filePath": "../../escaped", "entity": {"a": 1}}}], {}),
    ("fs:rename to outside", [_fetch(), {"id": "mv", "action": "fs:rename",
                                          "input": {"files": [{"from": "a.txt", "to": "../../escaped"}]}}],
     {"skeleton/a.txt": "x"}),
    ("fs:rename absolute", [_fetch(), {"id": "mv", "action": "fs:rename",
                                        "input": {"files": [{"from": "a.txt", "to": "{tmp}/escaped"}]}}],
     {"skeleton/a.txt": "x"}),
])
def test_writes_outside_the_workspace_are_refused(tmp_path, name, steps, files):
    import json

    steps = json.loads(json.dumps(steps).replace("{tmp}", str(tmp_path)))
    result, recorder = run(tmp_path, template(steps), files=files)
    assert result.status == "failed", (name, log_text(recorder))
    outside = [p for p in tmp_path.rglob("escaped*") if "template" not in p.relative_to(tmp_path).parts]
    assert outside == [], name


def test_fs_delete_outside_the_workspace_deletes_nothing(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for pattern in ("../../victim.txt", str(victim), "../**", "/**/victim.txt"):
        result, _ = run(tmp_path / pattern.replace("/", "_"), template([{"id": "rm", "action": "fs:delete",
                                                                        "input": {"files": [pattern]}}]))
        assert victim.read_text() == "keep me", pattern


@pytest.mark.parametrize("url", ["../../../../../../etc/passwd", "/etc/passwd", "file:///etc/passwd",
                                 "./../../secret.txt", "./link-out"])
def test_fetch_cannot_read_server_files(tmp_path, url):
    (tmp_path / "secret.txt").write_text("root:x:0:0 server secret")
    template_dir = tmp_path / "template"
    template_dir.mkdir()
    os.symlink(tmp_path / "secret.txt", template_dir / "link-out")
    steps = [{"id": "f", "action": "fetch:plain:file", "input": {"url": url, "targetPath": "stolen.txt"}},
             {"id": "ls", "action": "debug:log", "input": {"listWorkspace": "with-contents"}}]
    result, recorder = run(tmp_path, template(steps))
    assert result.status == "failed", (url, log_text(recorder))
    assert "root:x:0:0" not in log_text(recorder) and "stolen.txt" not in files_of(result)


def test_symlinks_and_symlink_chains_in_a_skeleton_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("server secret")
    skeleton = tmp_path / "template" / "skeleton"
    (skeleton / "sub").mkdir(parents=True)
    (skeleton / "ok.txt").write_text("fine")
    os.symlink(secret, skeleton / "c")                 # c -> outside
    os.symlink("c", skeleton / "b")                    # b -> c
    os.symlink("../b", skeleton / "sub" / "a")         # sub/a -> b -> c -> outside
    os.symlink(tmp_path, skeleton / "dir-link")        # a folder link
    os.symlink(tmp_path / "missing", skeleton / "dangling")
    result, recorder = run(tmp_path, template([_fetch(), {"id": "ls", "action": "debug:log",
                                                          "input": {"listWorkspace": "with-contents"}}]))
    assert result.status == "failed"
    assert "symbolic link" in result.error
    assert "server secret" not in log_text(recorder) + repr(files_of(result))


def test_a_link_planted_in_the_workspace_by_a_step_fails_the_task_before_the_next_step(tmp_path):
    """A third-party action (or a compromised one) leaves a link: the check after each step stops the run."""
    from plugins.api import TemplateAction
    from plugins.registry import load_registry

    registry = load_registry()

    def plant(ctx):
        os.symlink("/etc/passwd", ctx.workspace_path / "passwd")

    registry.add_action(TemplateAction(id="acme:plant", handler=plant, description="plants a link"))
    steps = [{"id": "plant", "action": "acme:plant"},
             {"id": "read", "action": "debug:log", "input": {"listWorkspace": "with-contents"}},
             {"id": "rename", "action": "fs:rename", "input": {"files": [{"from": "passwd", "to": "p.txt"}]}}]
    result, recorder = run(tmp_path, template(steps), registry=registry)
    assert result.status == "failed" and "symbolic link" in result.error
    assert {s["id"]: s["status"] for s in result.steps}["read"] != "completed"
    assert "root:" not in log_text(recorder)


# ------------------------------------------------------------------------------------------ network and credentials

class _Recorder(BaseHTTPRequestHandler):
    hits: list = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self):  # noqa: N802
        type(self).hits.append((self.path, self.headers.get("Authorization")))
        body = b"internal admin page"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # noqa: N815


@pytest.fixture
def internal_server():
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    server.shutdown()
    server.server_close()


def test_a_template_cannot_reach_the_servers_network(tmp_path, internal_server):
    base, hits = internal_server
    steps_list = [
        [{"id": "f", "action": "fetch:plain", "input": {"url": f"{base}/admin"}}],
        [{"id": "f", "action": "fetch:template", "input": {"url": f"{base}/skeleton.zip"}}],
        [{"id": "p", "action": "publish:github", "input": {"repoUrl": "127.0.0.1?owner=a&repo=b"}}],
        [{"id": "p", "action": "publish:git", "input": {"remoteUrl": f"{base}/repo.git"}}],
        [{"id": "c", "action": "catalog:fetch", "input": {"entityRef": f"{base}/x"}}],
    ]
    for i, steps in enumerate(steps_list):
        result, recorder = run(tmp_path / str(i), template(steps))
        assert result.status == "failed", steps
        assert "internal admin page" not in log_text(recorder)
    assert hits == []


def test_catalog_register_reaches_only_published_repositories_and_allowed_hosts(tmp_path, internal_server):
    """catalog:register ingests what it is pointed at: a server folder (the operator's org files, another
    team's checkout) or an internal git URL must be refused before anything is read."""
    from graph.visibility import EVERYTHING
    from scaffolder.catalog_service import CatalogService
    from plugins.api import ActionError

    base, hits = internal_server
    server_folder = tmp_path / "srv" / "org"
    server_folder.mkdir(parents=True)
    (server_folder / "catalog-info.yaml").write_text("kind: Group\n")
    git_root = tmp_path / "git"
    catalog = CatalogService(None, visibility=EVERYTHING, integrations=parse_integrations({}), catalog_rules=[],
                             local_roots=(git_root,))
    for target, path in [(str(server_folder), None), (f"file://{server_folder}", None), ("/etc", None),
                         (f"{base}/repo.git", "/catalog-info.yaml"), ("git@internal:org/repo.git", None),
                         (str(git_root / ".." / "srv" / "org"), None)]:
        with pytest.raises(ActionError, match="may register only"):
            catalog.register(target, catalog_info_path=path)
    assert hits == []


def test_catalog_register_is_a_registration_by_the_person_who_ran_the_template(graph, tmp_path):
    """A skeleton's catalog-info.yaml declares `Group admins` with the runner as member: registered by
    catalog:register, it must meet the runner's catalog rules (as a portal registration would), not the
    operator's any-kind ingest, or running a template would make its author an admin."""
    import subprocess

    from app.config import DEFAULT_CATALOG_RULES
    from graph.visibility import EVERYTHING
    from plugins.api import ActionError
    from scaffolder.catalog_service import CatalogService

    work = tmp_path / "work"
    work.mkdir()
    (work / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: made}\n"
        "spec: {type: service, lifecycle: experimental, owner: admins}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: admins}\n"
        "spec: {type: team, children: [], members: [mallory]}\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "skeleton"], check=True)
    git_root = tmp_path / "git"
    bare = git_root / "made.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)

    catalog = CatalogService(graph, visibility=EVERYTHING, integrations=parse_integrations({}),
                             catalog_rules=DEFAULT_CATALOG_RULES, local_roots=(git_root,))
    with pytest.raises(ActionError, match="catalog rules for locations registered through the portal"):
        catalog.register(str(bare))
    stored = {r["ref"] for r in graph.read("MATCH (e:Entity) WHERE NOT e:Unresolved RETURN e.ref AS ref")}
    assert "group:default/admins" not in stored, "a template's catalog file defined a Group"
    assert "component:default/made" in stored   # what the rules allow still lands


def test_the_servers_token_goes_only_to_its_own_host(tmp_path, internal_server, monkeypatch):
    """The github.com integration's token must not be sent to another host named in the template, and it
    never appears in a log, an output or an error."""
    base, hits = internal_server
    monkeypatch.setenv("TRELLIS_SECRET_GH_TOKEN", "ghp_server_token_value_1234")
    integrations = parse_integrations({"github": [{"host": "github.com", "token_secret_name": "GH_TOKEN"}]})
    steps = [{"id": "p", "action": "publish:github", "input": {"repoUrl": f"{base.split('//')[1]}?owner=a&repo=b"}},
             ]
    result, recorder = run(tmp_path, template(steps), integrations=integrations)
    assert result.status == "failed" and hits == []
    steps = [log_step("${{ secrets.GH_TOKEN }}${{ secrets }}${{ parameters }}")]
    result, recorder = run(tmp_path / "b", template(steps), integrations=integrations)
    assert "ghp_server_token_value_1234" not in log_text(recorder) + repr(result.output) + repr(result.error)


# ------------------------------------------------------------------------------------------ exhausting the worker

BOMBS = [
    ("billion laughs ~", "{% set a = 'xxxxxxxxxx' %}{% set b = a~a~a~a~a~a~a~a~a~a %}{% set c = b~b~b~b~b~b~b~b~b~b %}"
                         "{% set d = c~c~c~c~c~c~c~c~c~c %}{% set e = d~d~d~d~d~d~d~d~d~d %}"
                         "{% set f = e~e~e~e~e~e~e~e~e~e %}{% set g = f~f~f~f~f~f~f~f~f~f %}"
                         "{% set h = g~g~g~g~g~g~g~g~g~g %}{% set i = h~h~h~h~h~h~h~h~h~h %}${{ i }}"),
    ("string multiply", "${{ 'x' * 10000000000 }}"),
    ("list multiply", "${{ ([1] * 100000) * 100000 }}"),
    ("repeat", "${{ 'ab'.repeat(2000000000) }}"),
    ("padStart", "${{ 'a'.padStart(2000000000) }}"),
    ("format width", "${{ '%2000000000d' % 1 }}"),
    ("format method width", "${{ '{:>2000000000}'.format(1) }}"),
    ("center filter", "${{ 'a' | center(2000000000) }}"),
    ("indent filter", "${{ ('a\n' * 100000) | indent(100000) }}"),
    ("huge range", "{% for i in range(10000000000) %}x{% endfor %}"),
    ("nested loops", "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}"),
    ("replaceAll growth", "${{ ('a' * 100000).replaceAll('a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') }}"),
    ("replace filter growth", "${{ ('a' * 100000) | replace('a', 'a' * 1000) }}"),
    ("power", "${{ 10 ** 10000000 }}"),
    ("list concatenation", "{% set l = [1,2,3,4,5,6,7,8,9,10] * 10000 %}${{ (l + l + l + l + l + l + l + l + l + l"
                           " + l + l) | length }}"),
]


@pytest.mark.parametrize("name, payload", BOMBS, ids=[b[0] for b in BOMBS])
def test_expression_bombs_stop_within_the_budget(tmp_path, name, payload):
    config = {"render_timeout": 2, "max_render_chars": 1_000_000}
    started = time.monotonic()
    result, recorder = run(tmp_path, template([log_step(payload)]), config=config)
    took = time.monotonic() - started
    assert result.status == "failed", (name, (result.error or "")[:200])
    assert took < 15, (name, took)
    assert len(log_text(recorder)) < 1_100_000


def test_a_skeleton_bomb_in_a_file_is_stopped(tmp_path):
    files = {"skeleton/bomb.txt": BOMBS[0][1]}
    result, _ = run(tmp_path, template([_fetch()]), files=files, config={"max_render_chars": 1_000_000})
    assert result.status == "failed" and "larger than the limit" in result.error


def test_a_huge_each_is_refused_before_any_iteration(tmp_path):
    steps = [{"id": "many", "each": "${{ parameters.items }}", "action": "debug:log",
              "input": {"message": "ITERATION-MARK ${{ each.value }}"}}]
    result, recorder = run(tmp_path, template(steps), values={"items": list(range(1_000_000))})
    assert result.status == "failed" and "each" in result.error
    assert "ITERATION-MARK" not in log_text(recorder)


def test_a_workspace_file_bomb_is_stopped(tmp_path):
    steps = [{"id": "w", "each": "${{ range(50) | list }}", "action": "catalog:write",
              "input": {"filePath": "f${{ each.value }}.yaml", "entity": {"a": "${{ parameters.blob }}"}}}]
    result, _ = run(tmp_path, template(steps), values={"blob": "x" * 900_000}, config={"max_workspace_mb": 5})
    assert result.status == "failed" and "workspace" in result.error.lower()
    assert not any((tmp_path / "work").iterdir())


def test_a_yaml_billion_laughs_template_is_refused():
    from scaffolder.service import TaskRequestError, parse_template_yaml

    lol = ["a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lol.append(f"{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    started = time.monotonic()
    with pytest.raises(TaskRequestError, match="alias|YAML"):
        parse_template_yaml("\n".join(lol))
    assert time.monotonic() - started < 5


def test_the_template_sandbox_is_the_only_renderer():
    """Guard against regressions that would swap the sandbox for a plain Environment."""
    from jinja2.sandbox import SandboxedEnvironment

    from scaffolder.expressions import Templater

    env = Templater()._env_for("${{ 1 }}")
    assert isinstance(env, SandboxedEnvironment) and env.loader is None
    public = {name for name in env.globals if not name.startswith("__trellis")}
    assert public <= {"range", "cycler", "joiner", "null"}, public
