"""publish:github, publish:gitlab and their pull/merge requests really push: over git's smart HTTP to a local
`git http-backend`, at the clone URL a local server replaying the host's REST API hands back
(tests/support/git_hosting.py). The token goes to that host only and never shows in the log."""
from __future__ import annotations

import subprocess

import pytest

from scaffolder.integrations import parse_integrations
from tests.scaffolder_helpers import log_text, run, template
from tests.support.git_hosting import GitHost

TOKEN = "tok_" + "x" * 30
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def host(request, tmp_path, monkeypatch):
    style = request.param
    monkeypatch.setenv("TRELLIS_SECRET_HOST_TOKEN", TOKEN)
    with GitHost(tmp_path / "host", style=style, token=TOKEN, orgs=("acme",)) as git_host:
        integrations = parse_integrations({style: [{"host": git_host.netloc, "apiBaseUrl": git_host.api_base,
                                                    "token_secret_name": "host-token"}]})
        yield git_host, integrations


def files_in(bare, branch: str = "main") -> dict[str, str]:
    names = subprocess.run(["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", branch],
                           capture_output=True, text=True, check=True).stdout.split()
    return {n: subprocess.run(["git", "--git-dir", str(bare), "show", f"{branch}:{n}"], capture_output=True,
                              text=True, check=True).stdout for n in names}


def fetch_step() -> dict:
    return {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}"}}}


@pytest.mark.parametrize("host, action", [("github", "publish:github"), ("gitlab", "publish:gitlab")],
                         indirect=["host"])
def test_publish_creates_the_repository_and_pushes(tmp_path, host, action):
    git_host, integrations = host
    steps = [fetch_step(),
             {"id": "publish", "action": action, "input": {
                 "repoUrl": f"{git_host.netloc}?owner=acme&repo=${{{{ parameters.name }}}}",
                 "defaultBranch": "main", "description": "made by a test"}},
             {"id": "log", "action": "debug:log", "input": {"message": "${{ steps.publish.output.remoteUrl }}"}}]
    result, recorder = run(tmp_path, template(steps), values={"name": "gift-cards"}, integrations=integrations,
                           files={"skeleton/README.md": "# ${{ values.name }}\n", "skeleton/src/app.py": "x = 1\n"})
    assert result.status == "completed", (result.error, log_text(recorder))
    assert files_in(git_host.repo_path("acme", "gift-cards")) == {"README.md": "# gift-cards\n", "src/app.py": "x = 1\n"}
    assert git_host.clone_url("acme", "gift-cards").removesuffix(".git") in log_text(recorder)
    # the token went with the API calls and the push, and is never shown
    assert any(entry.get("auth") for entry in git_host.log)
    assert TOKEN not in log_text(recorder) + repr(result.output) + repr(result.error)


@pytest.mark.parametrize("host, action", [("github", "publish:github:pull-request"),
                                          ("gitlab", "publish:gitlab:merge-request")], indirect=["host"])
def test_a_pull_or_merge_request_pushes_a_branch_to_an_existing_repository(tmp_path, host, action):
    git_host, integrations = host
    bare = git_host._create_repo("acme", "ledger")
    git_host.projects["acme/ledger"] = {"id": 7}          # an existing project (GitLab looks it up by id)
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "README.md").write_text("ledger\n")
    subprocess.run(["git", "-C", str(seed), "add", "."], check=True)
    subprocess.run(["git", "-C", str(seed), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed"],
                   check=True)
    subprocess.run(["git", "-C", str(seed), "push", "-q", str(bare), "main"], check=True)
    if action.startswith("publish:github"):
        inp = {"repoUrl": f"{git_host.netloc}?owner=acme&repo=ledger", "branchName": "add-docs",
               "title": "Add docs", "description": "from a template"}
    else:
        inp = {"repoUrl": f"{git_host.netloc}?owner=acme&repo=ledger", "branchName": "add-docs",
               "title": "Add docs", "description": "from a template", "targetBranchName": "main"}
    steps = [fetch_step(), {"id": "pr", "action": action, "input": inp}]
    result, recorder = run(tmp_path / "run", template(steps), values={"name": "docs"}, integrations=integrations,
                           files={"skeleton/docs/index.md": "# ${{ values.name }}\n"})
    assert result.status == "completed", (result.error, log_text(recorder))
    assert files_in(bare, "add-docs")["docs/index.md"] == "# docs\n"
    assert git_host.pulls and git_host.pulls[0]["title"] == "Add docs"
    assert TOKEN not in log_text(recorder)
