"""Location-target and source globs must not follow symlinked directories.

A repository is the attacker's: it may hold `l -> /` (or a link to any folder on the server) and a Location
with `targets: ["./l/*/*"]`. If globbing follows the link, every match outside the location is reported in
the rejections (a listing of the server's files) and `./l/**/*` walks the whole disk. The same holds for the
git source's `glob:` option. The gain asserted: names of files outside the location in what the run reports.
"""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from ingest.sync import ingest

SECRET_NAMES = ("payroll-2024.xlsx", "id_rsa_backup", "customers.csv")


def outside_folder(tmp_path: Path) -> Path:
    """A folder on the server, outside any location, holding files whose names are the secret."""
    outside = tmp_path / "server-private"
    (outside / "finance" / "deep").mkdir(parents=True)
    for i, name in enumerate(SECRET_NAMES):
        (outside / "finance" / ("deep" if i else "") / name).write_text("x")
    (outside / "finance" / "catalog-info.yaml").write_text(COMPONENT.format(name="smuggled"))
    return outside


COMPONENT = textwrap.dedent("""\
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {{name: {name}}}
    spec: {{type: service, lifecycle: production, owner: team}}
""")


def repository(tmp_path: Path, link_to: Path, targets: list[str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(link_to, repo / "l")
    (repo / "catalog-info.yaml").write_text(COMPONENT.format(name="innocent") + textwrap.dedent(f"""\
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Location
        metadata: {{name: more}}
        spec: {{targets: {json.dumps(targets)}}}
    """))
    return repo


def reported(result) -> str:
    return json.dumps(result.as_json())


def test_location_globs_do_not_list_files_behind_a_symlinked_directory(graph, tmp_path):
    outside = outside_folder(tmp_path)
    repo = repository(tmp_path, outside, ["./l/*/*", "./l/**/*"])
    result = ingest(graph, str(repo))

    text = reported(result)
    leaked = [name for name in (*SECRET_NAMES, "finance", "deep") if name in text]
    assert not leaked, f"the run's report lists files outside the location: {leaked}"
    refs = {r["ref"] for r in graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")}
    assert refs == {"component:default/innocent", "location:default/more"}
    # the targets are reported as matching nothing, by field, without naming anything behind the link
    fields = {r["field"]: r["reason"] for r in result.rejected}
    assert fields["spec.targets[0]"] == "target './l/*/*' matches no files"
    assert fields["spec.targets[1]"] == "target './l/**/*' matches no files"


def test_location_glob_through_a_link_to_the_root_lists_nothing(graph, tmp_path):
    repo = repository(tmp_path, Path("/"), ["./l/*/*"])
    result = ingest(graph, str(repo))
    text = reported(result)
    assert "passwd" not in text and "l/etc" not in text and "l/usr" not in text, text[:2000]


def test_git_source_glob_does_not_follow_a_symlinked_directory(graph, tmp_path):
    from ingest.context import sync_context
    from plugins.builtin.git.provider import GitProvider

    outside = outside_folder(tmp_path)
    repo = repository(tmp_path, outside, [])
    ctx = sync_context(graph=graph, source="globbed", options={"target": str(repo), "glob": ["**/catalog-info.yaml", "l/*/catalog-info.yaml"]},
                      run_id="globlink0001")
    result = GitProvider().sync(ctx)
    text = reported(result)
    assert "finance" not in text and "smuggled" not in text, text[:2000]
    refs = {r["ref"] for r in graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")}
    assert "component:default/smuggled" not in refs and "component:default/innocent" in refs
