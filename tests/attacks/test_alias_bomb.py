"""A YAML alias bomb in a repository's `mkdocs.yml` must not exhaust the docs builder's memory.

The file is the repository's, so its author controls it. Nine nested aliases make a few hundred bytes
expand to 9^9 values; the sanitiser parses the file before MkDocs' sandboxed child starts, in the worker
(or the portal process). The build runs here through the real path (`build_entity_docs`: catalog entity ->
techdocs-ref -> mkdocs.yml -> sanitiser) in a child process with an address-space limit, and the gain
asserted is the memory the child needed; the build itself must fail with a reason that says why.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ingest.sync import ingest

REF = "component:default/bomb-docs"
HEADROOM_MB = 768      # the child may grow by this much before its allocations fail (MemoryError)
ALLOWED_GROWTH_MB = 100

BOMB = "site_name: Bomb\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for name, prev in zip("abcdefghi", [None, *"abcdefgh"])
) + "theme:\n  name: material\n  palette: *i\n"

CHILD = textwrap.dedent("""
    import json, resource, sys
    from graph.driver import Settings, connect
    from docs_builder.build import build_entity_docs
    from docs_builder.storage import LocalStorage

    uri, ref, storage, headroom = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    graph = connect(Settings.from_env())   # NEO4J_URI and the session server's credentials, from the parent
    size = int(next(line for line in open("/proc/self/status") if line.startswith("VmSize")).split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + headroom * 2**20, resource.RLIM_INFINITY))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {}
    try:
        outcome = build_entity_docs(graph, ref, LocalStorage(storage))
        out.update(status=outcome.status, error=outcome.error)
    except BaseException as exc:
        out.update(status="crashed", error=f"{type(exc).__name__}: {exc}"[:500])
    out["growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps(out))
""")


def test_alias_bomb_in_mkdocs_yml_fails_the_build_without_the_memory(graph, neo4j_uri, tmp_path):
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "index.md").write_text("# Home\n")
    (repo / "mkdocs.yml").write_text(BOMB)
    (repo / "catalog-info.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: {REF.split('/')[-1]}
          annotations: {{backstage.io/techdocs-ref: "dir:."}}
        spec: {{type: service, lifecycle: production, owner: team}}
    """))
    assert ingest(graph, str(repo)).ok
    assert len(BOMB) < 1000

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "NEO4J_URI": neo4j_uri, "PYTHONPATH": os.pathsep.join([str(root), str(root / "docs-builder")])}
    child = subprocess.run([sys.executable, "-c", CHILD, neo4j_uri, REF, str(tmp_path / "sites"), str(HEADROOM_MB)],
                           capture_output=True, text=True, timeout=600, env=env, cwd=root)
    assert child.returncode == 0 and child.stdout.strip(), child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])

    assert out["growth_mb"] < ALLOWED_GROWTH_MB, f"the build needed {out['growth_mb']:.0f} MB more: {out}"
    assert out["status"] == "failed", out
    assert "mkdocs.yml" in out["error"] and "alias" in out["error"], out["error"]
