"""The YAML fast path (yaml_loader._plain_documents) loads exactly what the full bounded loader loads.

Each text below is read both ways: through `load_documents` as ingest calls it (fast path first) and through
the full loader alone. Documents, values, types, indexes and every failure's wording must be identical; the
texts the fast path must hand over (anchors, aliases, tags, merge keys, duplicates, limits, syntax errors)
are in the list too, so a fast path that kept one of them would show here.
"""
from __future__ import annotations

import math

import pytest

from ingest.descriptors.limits import Limits
from ingest.descriptors.yaml_loader import CatalogLoader, LoadFailure, _plain_documents, load_documents

TEXTS = {
    "scalars": "a: 1\nb: -2\nc: +3\nd: 0o17\ne: 0x1F\nf: 1.5\ng: -.5e3\nh: .inf\ni: -.Inf\nj: .nan\n"
               "k: true\nl: False\nm: TRUE\nn: yes\no: no\np: on\nq: ~\nr: null\ns: Null\nt:\nu: 0755\n"
               "v: 1:20\nw: 2024-01-01\nx: '1'\ny: \"true\"\nz: 1_000\naa: 0b101\nbb: 12e3\ncc: 1.\n",
    "keys": "1: int\n'1': str\ntrue: bool\n~: null\n1.5: float\nplain: x\n",
    "equal keys of other tags": "1: a\n1.0: b\n",
    "block scalars": "a: |\n  line one\n  line two\nb: >\n  folded\n  text\nc: |-\n  kept\n",
    "flow": "a: [1, 'two', {b: c, d: [e, f]}]\nb: {}\nc: []\n",
    "documents": "---\na: 1\n---\n---\n- x\n- y\n...\n---\nplain text\n",
    "empty": "",
    "comments only": "# nothing here\n",
    "unicode": "name: café\nemoji: \"\\U0001F600\"\nkey-é: ü\n",
    "descriptor": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\n"
                  "  annotations:\n    a.io/b: c\nspec:\n  type: service\n  dependsOn:\n    - resource:db\n",
    "anchor and alias": "base: &b {x: 1}\nother: *b\n",
    "anchor only": "a: &x 1\nb: 2\n",
    "merge key": "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n",
    "merge key as value": "a: <<\n",
    "explicit tags": "a: !!str 1\nb: !!int '2'\nc: !custom x\n",
    "binary tag": "a: !!binary aGVsbG8=\n",
    "non-specific tag": "a: ! 12\n",
    "duplicate key": "a: 1\nb: 2\na: 3\n",
    "duplicate key in a later document": "---\na: 1\n---\nb: 1\nb: 2\n---\nc: 3\n",
    "mapping as key": "? {a: 1}\n: x\n",
    "list as key": "? [a]\n: x\n",
    "syntax error then valid": "---\na: [1, 2\n---\nb: 2\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n---\nd: 1\n",
    "tab": "a:\n\tb: 1\n",
    "bad int": "a: 0o9\n",
    "too deep": "a: " + "[" * 120 + "]" * 120 + "\n",
    "control character": "a: \x07\n",
    "alias bomb": "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n",
}


def _normalise(items: list) -> list:
    """Comparable form: NaN equal to itself, types kept (1 and 1.0 and True differ)."""
    def norm(value):
        if isinstance(value, float) and math.isnan(value):
            return ("nan",)
        if isinstance(value, dict):
            return ("map", [(norm(k), type(k).__name__, norm(v)) for k, v in value.items()])
        if isinstance(value, list):
            return ("seq", [norm(v) for v in value])
        return (type(value).__name__, value)

    return [("fail", i.index, i.reason) if isinstance(i, LoadFailure) else ("doc", i.index, norm(i.data))
            for i in items]


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_the_fast_path_loads_what_the_full_loader_loads(name: str) -> None:
    text, limits = TEXTS[name], Limits()
    assert _normalise(list(load_documents(text, limits))) == \
        _normalise(list(load_documents(text, limits, CatalogLoader)))


@pytest.mark.parametrize("name", ["anchor and alias", "anchor only", "merge key", "merge key as value",
                                  "explicit tags", "binary tag", "non-specific tag", "duplicate key",
                                  "duplicate key in a later document", "mapping as key", "list as key",
                                  "syntax error then valid", "bad indentation", "tab", "too deep",
                                  "alias bomb"])
def test_what_only_the_full_loader_may_read_is_handed_over(name: str) -> None:
    assert _plain_documents(TEXTS[name], Limits()) is None


def test_plain_descriptors_take_the_fast_path() -> None:
    assert _plain_documents(TEXTS["descriptor"] + "---\n" + TEXTS["scalars"], Limits()) is not None


def test_limits_hand_over_to_the_full_loader() -> None:
    """Over a limit, the full loader words the refusal; the fast path never accepts it."""
    text = "a: [" + ", ".join("x" for _ in range(50)) + "]\n"
    small = Limits(max_nodes=20)
    assert _plain_documents(text, small) is None
    failures = [i for i in load_documents(text, small) if isinstance(i, LoadFailure)]
    assert failures and "more than 20 YAML nodes" in failures[0].reason
    assert _plain_documents("a: " + "y" * 100 + "\n", Limits(max_expanded_chars=50)) is None
    assert _plain_documents("a: " + "[" * 6 + "]" * 6 + "\n", Limits(max_depth=5)) is None
