"""Documents after a malformed one in a multi-document file still land (reading resumes at the next `---`),
and the broken one is reported with its file, position and reason; for files on disk and from providers."""
from __future__ import annotations

import textwrap

from ingest.descriptors.limits import Limits
from ingest.descriptors.yaml_loader import LoadedDocument, LoadFailure, load_documents
from ingest.descriptors.contents import split_documents
from ingest.sync import ingest


def component(name: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {{name: {name}}}
        spec: {{type: service, lifecycle: production, owner: team}}
    """)


BROKEN = textwrap.dedent("""\
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: broken
    spec: {type: service, lifecycle: production, owner: team}
""")

FILE = "---\n".join([component("before"), BROKEN, component("after"), component("last")])


def test_valid_documents_after_an_unclosed_flow_mapping_land_and_the_broken_one_is_reported(graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(FILE)
    result = ingest(graph, str(tmp_path))

    refs = {r["ref"] for r in graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")}
    assert refs == {"component:default/before", "component:default/after", "component:default/last"}
    (rejected,) = result.rejected
    assert rejected["file"] == "catalog-info.yaml" and rejected["document"] == 2
    assert rejected["reason"].startswith("malformed YAML at line ")


def test_provider_files_resynchronise_the_same_way():
    docs = split_documents(FILE)
    assert [i for i, _ in docs.documents] == [1, 3, 4]
    assert [i for i, _ in docs.problems] == [2]


def test_positions_and_line_numbers_stay_those_of_the_whole_file():
    text = "a: 1\n---\nb: [1\n---\nc: 3\n---\nd: {\n---\n---\ne: 5\n"
    items = list(load_documents(text, Limits()))
    assert [(type(i).__name__, i.index) for i in items] == [
        ("LoadedDocument", 1), ("LoadFailure", 2), ("LoadedDocument", 3), ("LoadFailure", 4),
        ("LoadedDocument", 5), ("LoadedDocument", 6)]
    assert items[4].data is None and items[5].data == {"e": 5}
    # the error of document 4 is reported on the file's line 8 (where the next marker ended it), not line 2
    assert "line 8" in items[3].reason, items[3].reason
    # a broken last document ends the file: nothing after it to recover, nothing lost silently
    tail = list(load_documents("a: 1\n---\nb: {\n", Limits()))
    assert isinstance(tail[0], LoadedDocument) and isinstance(tail[1], LoadFailure) and len(tail) == 2
    # an alias-count limit hit mid-document resumes too
    many = "x: &a [1]\n" + "".join(f"y{i}: *a\n" for i in range(Limits().max_aliases + 1))
    after = list(load_documents(many + "---\nz: 1\n", Limits()))
    assert isinstance(after[0], LoadFailure) and "aliases" in after[0].reason
    assert after[1] == LoadedDocument(2, {"z": 1})
