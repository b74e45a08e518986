"""Exports and rendering that take descriptor text anyone can write."""
import time

from app.web.definitions import parse_openapi
from graph.csv_export import csv_text


def test_csv_cells_that_look_like_formulas_stay_text():
    text = csv_text([["ref", "owner"], ["component:default/x", "=HYPERLINK(\"http://evil\")"], ["-1", "+a"]])
    assert text.splitlines()[1] == 'component:default/x,"\'=HYPERLINK(""http://evil"")"'
    assert text.splitlines()[2] == "'-1,'+a"


def test_an_alias_bomb_in_an_api_definition_is_not_expanded():
    bomb = "openapi: 3.0.0\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [*l{i-1}, *l{i-1}, *l{i-1}, *l{i-1}, *l{i-1}, *l{i-1}, *l{i-1}, *l{i-1}, *l{i-1}, *l{i-1}]\n"
        for i in range(1, 9)) + "paths: {/a: {get: {summary: *l8}}}\n"
    started = time.perf_counter()
    assert parse_openapi(bomb) is None
    assert time.perf_counter() - started < 2
