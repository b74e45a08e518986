"""The step runner and the built-in actions with Backstage's meaning, in-process (no worker, no database):
fetch:template's naming and copying rules, `if`/`each`, outputs feeding later steps, input schemas,
permissions, dry runs, the fs and debug actions, and cancellation."""
from __future__ import annotations

import os
import stat
import time

import pytest

from tests.scaffolder_helpers import FakeCatalog, files_of, log_text, run, template

SKELETON = {
    "skeleton/README.md": "# ${{ values.name }}\n",
    "skeleton/${{ values.name }}/main.py": "NAME = ${{ values.name | dump }}\n",
    "skeleton/${{ 'optional.txt' if values.withOptional }}": "only when asked\n",
    "skeleton/docs/${{ '' }}/never.md": "skipped: the rendered path has //\n",
    "skeleton/.github/workflows/ci.yml": "python: ${{ matrix.python }}\n",
    "skeleton/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00${{ values.name }}",
}


def fetch(**input_) -> dict:
    return {"id": "fetch", "name": "Fetch", "action": "fetch:template",
            "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}",
                                                       "withOptional": "${{ parameters.opt }}"}, **input_}}


def test_fetch_template_renders_names_and_contents_and_skips_empty_paths(tmp_path):
    result, recorder = run(tmp_path, template([fetch(copyWithoutTemplating=[".github/workflows/*"])]),
                           values={"name": "gift-cards", "opt": False}, files=SKELETON)
    assert result.status == "completed", log_text(recorder)
    files = files_of(result)
    assert files["README.md"] == "# gift-cards\n"
    assert files["gift-cards/main.py"] == 'NAME = "gift-cards"\n'
    assert "optional.txt" not in files and not any("never" in p for p in files)
    assert files[".github/workflows/ci.yml"] == "python: ${{ matrix.python }}\n"     # copied, not rendered
    assert files["logo.png"] is None                                                   # binary, copied as is


def test_optional_file_appears_when_its_name_renders(tmp_path):
    result, _ = run(tmp_path, template([fetch()]), values={"name": "x", "opt": True},
                    files={"skeleton/${{ 'optional.txt' if values.withOptional }}": "here\n"})
    assert files_of(result) == {"optional.txt": "here\n"}


def test_copy_without_render_keeps_names_too_and_extension_mode_renders_only_njk(tmp_path):
    files = {"skeleton/${{ values.name }}.txt": "${{ values.name }}", "skeleton/a.md.njk": "${{ values.name }}",
             "skeleton/b.md": "${{ values.name }}"}
    result, _ = run(tmp_path / "1", template([fetch(copyWithoutRender=["*.txt"])]), values={"name": "n"}, files=files)
    assert files_of(result)["${{ values.name }}.txt"] == "${{ values.name }}"
    result, _ = run(tmp_path / "2", template([fetch(templateFileExtension=True)]), values={"name": "n"}, files=files)
    assert files_of(result) == {"n.txt": "${{ values.name }}", "a.md": "n", "b.md": "${{ values.name }}"}


def test_extension_and_copy_patterns_together_are_refused(tmp_path):
    result, recorder = run(tmp_path, template([fetch(templateFileExtension=".njk", copyWithoutTemplating=["x"])]),
                           files={"skeleton/a": "a"})
    assert result.status == "failed" and "incompatible" in result.error


def test_existing_files_are_kept_unless_replace_and_exec_bits_survive(tmp_path):
    skeleton = tmp_path / "template" / "skeleton"
    skeleton.mkdir(parents=True)
    (skeleton / "run.sh").write_text("echo ${{ values.name }}\n")
    (skeleton / "run.sh").chmod(0o755)
    steps = [fetch(), {"id": "again", "action": "fetch:template", "input": {"url": "./other", "values": {}}}]
    result, _ = run(tmp_path, template(steps), values={"name": "first"}, files={"other/run.sh": "second\n"})
    assert files_of(result)["run.sh"] == "echo first\n"
    assert next(f for f in result.files if f["path"] == "run.sh")["executable"]
    steps[1]["input"]["replace"] = True
    result, _ = run(tmp_path / "b", template(steps), values={"name": "first"},
                    files={"skeleton/run.sh": "x", "other/run.sh": "second\n"})
    assert files_of(result)["run.sh"] == "second\n"


def test_cookiecutter_compat_target_path_and_file_variants(tmp_path):
    steps = [
        {"id": "cc", "action": "fetch:template", "input": {"url": "./cc", "targetPath": "sub", "cookiecutterCompat": True,
                                                            "values": {"name": "x"}}},
        {"id": "plain", "action": "fetch:plain", "input": {"url": "./plain", "targetPath": "raw"}},
        {"id": "one", "action": "fetch:plain:file", "input": {"url": "./plain/a.txt", "targetPath": "copy/a.txt"}},
        {"id": "tf", "action": "fetch:template:file", "input": {"url": "./one.txt", "targetPath": "made.txt",
                                                                 "values": {"n": 3}}},
    ]
    result, recorder = run(tmp_path, template(steps), files={"cc/{{ cookiecutter.name }}.txt": "{{ cookiecutter.name }}",
                                                             "plain/a.txt": "${{ raw }}", "one.txt": "n=${{ values.n }}"})
    assert result.status == "completed", log_text(recorder)
    assert files_of(result) == {"sub/x.txt": "x", "raw/a.txt": "${{ raw }}", "copy/a.txt": "${{ raw }}",
                                "made.txt": "n=3"}


def test_if_each_and_outputs_flow_between_steps_with_their_types(tmp_path):
    steps = [
        {"id": "skip", "if": "${{ parameters.flag }}", "action": "debug:log", "input": {"message": "never"}},
        {"id": "skip2", "if": False, "action": "debug:log", "input": {"message": "never"}},
        {"id": "write", "each": "${{ parameters.items }}", "if": "${{ each.value != 'c' }}", "action": "catalog:write",
         "input": {"filePath": "out/${{ each.key }}-${{ each.value }}.yaml", "entity": {"n": "${{ each.value }}"}}},
        {"id": "fetchit", "action": "catalog:fetch", "input": {"entityRef": "group:default/exists"}},
        {"id": "log", "action": "debug:log", "input": {"message": "${{ steps.fetchit.output.entity.metadata.name }}"}},
    ]
    output = {"links": [{"title": "x", "entityRef": "${{ steps.fetchit.output.entity.metadata.name }}"}],
              "text": [{"title": "count", "content": "${{ parameters.items | length }} items"}]}
    result, recorder = run(tmp_path, template(steps, output=output), values={"flag": False, "items": ["a", "b", "c"]})
    assert result.status == "completed", log_text(recorder)
    states = {s["id"]: s["status"] for s in result.steps}
    assert states == {"skip": "skipped", "skip2": "skipped", "write": "completed", "fetchit": "completed",
                      "log": "completed"}
    assert sorted(files_of(result)) == ["out/0-a.yaml", "out/1-b.yaml"]      # each.key is a string index
    assert "never" not in log_text(recorder) and "exists" in log_text(recorder)
    assert result.output == {"links": [{"title": "x", "entityRef": "exists"}], "text": [{"title": "count",
                                                                                         "content": "3 items"}]}


def test_input_schema_unknown_action_and_permission_are_checked_before_running(tmp_path):
    result, _ = run(tmp_path / "a", template([{"id": "w", "action": "debug:wait", "input": {"seconds": "soon"}}]))
    assert result.status == "failed" and "Invalid input passed to action debug:wait" in result.error
    result, _ = run(tmp_path / "b", template([{"id": "x", "action": "acme:nope"}]))
    assert "unknown action 'acme:nope'" in result.error and "fetch:template" in result.error
    catalog = FakeCatalog()
    result, _ = run(tmp_path / "c", template([{"id": "r", "action": "catalog:register",
                                               "input": {"catalogInfoUrl": "/x"}}]), allowed={"run"}, catalog=catalog)
    assert "Unauthorized action: catalog:register" in result.error and catalog.registered == []


def test_a_dry_run_skips_what_cannot_dry_run_and_gets_example_outputs(tmp_path):
    steps = [fetch(), {"id": "publish", "action": "publish:git", "input": {"remoteUrl": "/nowhere"}},
             {"id": "log", "action": "debug:log", "input": {"message": "repo ${{ steps.publish.output.remoteUrl }} "
                                                                       "secret=[${{ secrets.token }}]"}}]
    result, recorder = run(tmp_path, template(steps), values={"name": "n"}, secrets={"token": "s3cr3t-value"},
                           files={"skeleton/a.txt": "a"}, dry_run=True)
    assert result.status == "completed"
    assert {s["id"]: s["status"] for s in result.steps}["publish"] == "skipped"
    assert "repo https://git.example.com/acme/example.git secret=[]" in log_text(recorder)


def test_fs_rename_and_delete(tmp_path):
    steps = [fetch(), {"id": "mv", "action": "fs:rename", "input": {"files": [{"from": "README.md", "to": "docs/README.md"}]}},
             {"id": "rm", "action": "fs:delete", "input": {"files": ["n/**", "*.tmp"]}}]
    result, recorder = run(tmp_path, template(steps), values={"name": "n"},
                           files={"skeleton/README.md": "r", "skeleton/${{ values.name }}/x.py": "x",
                                  "skeleton/a.tmp": "t", "skeleton/keep.txt": "k"})
    assert result.status == "completed", log_text(recorder)
    assert sorted(files_of(result)) == ["docs/README.md", "keep.txt"]
    result, _ = run(tmp_path / "b", template([fetch(), {"id": "mv", "action": "fs:rename", "input": {
        "files": [{"from": "a", "to": "b"}]}}]), files={"skeleton/a": "1", "skeleton/b": "2"})
    assert result.status == "failed" and "exists already" in result.error


def test_debug_log_lists_the_workspace(tmp_path):
    steps = [fetch(), {"id": "ls", "action": "debug:log", "input": {"listWorkspace": "with-contents"}}]
    result, recorder = run(tmp_path, template(steps), values={"name": "n"}, files={"skeleton/x/y.txt": "hello"})
    assert "  - x/y.txt" in log_text(recorder) and "hello" in log_text(recorder)


def test_cancel_stops_a_wait_and_later_steps_never_run(tmp_path):
    steps = [{"id": "wait", "action": "debug:wait", "input": {"seconds": 20}},
             {"id": "after", "action": "debug:log", "input": {"message": "AFTER THE WAIT"}}]
    started = time.monotonic()
    result, recorder = run(tmp_path, template(steps), cancel_after=0.5)
    assert result.status == "cancelled" and time.monotonic() - started < 10
    assert {s["id"]: s["status"] for s in result.steps} == {"wait": "cancelled", "after": "cancelled"}
    assert "AFTER THE WAIT" not in log_text(recorder)


def test_debug_wait_has_an_upper_bound(tmp_path):
    result, _ = run(tmp_path, template([{"id": "w", "action": "debug:wait", "input": {"minutes": 5}}]))
    assert result.status == "failed" and "maximum threshold of 30 seconds" in result.error


@pytest.mark.parametrize("name", ["catalog-info.yaml"])
def test_catalog_write_annotates_the_source_template(tmp_path, name):
    steps = [{"id": "w", "action": "catalog:write", "input": {"entity": {
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "n"}}}}]
    result, _ = run(tmp_path, template(steps))
    assert "backstage.io/source-template: template:default/t" in files_of(result)[name]


def test_the_workspace_is_removed_after_the_run(tmp_path):
    result, _ = run(tmp_path, template([fetch()]), values={"name": "n"}, files={"skeleton/a": "a"})
    assert result.status == "completed"
    assert not any((tmp_path / "work").iterdir())
    mode = os.stat(tmp_path / "template" / "skeleton" / "a").st_mode
    assert stat.S_ISREG(mode)


def test_time_saved_reads_as_hours_and_minutes():
    """The Create page shows Backstage's `backstage.io/time-saved` (ISO 8601) as people read it."""
    from scaffolder.service import duration_text

    assert duration_text("PT3H") == "3 h"
    assert duration_text("PT1H30M") == "1 h 30 min"
    assert duration_text("PT45M") == "45 min"
    assert duration_text("P1DT2H") == "1 d 2 h"
    assert duration_text("half a day") == "half a day"
    assert duration_text(None) is None
