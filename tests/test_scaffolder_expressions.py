"""The `${{ }}` language as Backstage templates use it: Nunjucks semantics where they differ from Jinja,
Backstage's filters, type preservation of whole-value expressions, and clear errors for what is refused."""
from __future__ import annotations

import pytest

from scaffolder.expressions import RenderError, Templater, is_truthy
from scaffolder.filters import backstage_filters
from scaffolder.integrations import parse_integrations

INTEGRATIONS = parse_integrations({"gitlab": [{"host": "gitlab.acme.io"}]})
CTX = {
    "parameters": {"name": "gift-cards", "port": 8080, "ratio": 0.5, "enabled": True, "off": False,
                   "tags": ["a", "b"], "owner": "group:payments/payments-team", "empty": "",
                   "repoUrl": "github.com?owner=acme&repo=gift-cards", "map": {"x": 1, "y": 2}, "none": None},
    "steps": {"publish": {"output": {"remoteUrl": "https://github.com/acme/gift-cards"}}},
    "user": {"ref": "user:default/alice", "entity": {"metadata": {"name": "alice"}, "spec": {"profile": {"email": "a@x"}}}},
}


@pytest.fixture(scope="module")
def t() -> Templater:
    return Templater(backstage_filters(INTEGRATIONS))


@pytest.mark.parametrize("source, expected", [
    ("${{ parameters.name }}", "gift-cards"),
    ("port ${{ parameters.port }} ratio ${{ parameters.ratio }}", "port 8080 ratio 0.5"),
    ("${{ parameters.enabled }}/${{ parameters.off }}", "true/false"),                 # JS booleans
    ("[${{ parameters.tags }}]", "[a,b]"),                                                # Array.toString
    ("${{ parameters.map }}", "[object Object]"),
    ("a${{ parameters.none }}b${{ parameters.missing }}c", "abc"),                       # null/undefined -> ""
    ("${{ parameters.missing.deeper.still }}ok", "ok"),                                   # undefined chains
    ("${{ parameters['name'] }} ${{ steps['publish'].output.remoteUrl }}", "gift-cards https://github.com/acme/gift-cards"),
    ("${{ user.entity.spec.profile.email }} ${{ user.ref }}", "a@x user:default/alice"),
    ("${{ parameters.name | upper }}", "GIFT-CARDS"),
    ("${{ parameters.name | replace('-', '_') }}", "gift_cards"),
    ("${{ parameters.tags | join('+') }}", "a+b"),
    ("${{ parameters.map | dump }}", '{"x":1,"y":2}'),                                    # JSON.stringify
    ("${{ parameters.name | dump }}", '"gift-cards"'),
    ("${{ parameters.empty or 'default' }}", "default"),
    ("${{ parameters.name if parameters.enabled else 'no' }}", "gift-cards"),
    ("${{ parameters.name.toUpperCase() }}", "GIFT-CARDS"),                               # JS string methods
    ("${{ 'a-b-c'.replace('-', '_') }}", "a_b-c"),                                        # JS replace: first only
    ("${{ 'a-b-c'.replaceAll('-', '_') }}", "a_b_c"),
    ("${{ parameters.name.split('-')[1] }}", "cards"),
    ("${{ parameters.name.length }} ${{ parameters.tags.length }}", "10 2"),
    ("${{ parameters.name.startsWith('gift') }} ${{ parameters.tags.includes('b') }}", "true true"),
    ("${{ parameters.name.substring(0, 4) }}${{ parameters.name.slice(-5) }}", "giftcards"),
    ("{% if parameters.port === 8080 %}yes{% elseif parameters.port %}no{% endif %}", "yes"),  # ===, elseif
    ("{% for k, v in parameters.map %}${{ k }}=${{ v }};{% endfor %}", "x=1;y=2;"),       # object iteration
    ("{%- for t in parameters.tags %}\n- ${{ t }}{% endfor %}", "\n- a\n- b"),
    ("${{ 'x' + 1 }}", "x1"),                                                             # JS string + number
    ("line\n", "line\n"),
    ("${{ {'items': 'key wins'}.items }}", "key wins"),                                 # keys before dict methods                                                                 # trailing newline kept
    ("${{ parameters.repoUrl | parseRepoUrl | pick('owner') }}", "acme"),
    ("${{ (parameters.repoUrl | parseRepoUrl).repo }}", "gift-cards"),
    ("${{ parameters.repoUrl | projectSlug }}", "acme/gift-cards"),
    ("${{ parameters.owner | parseEntityRef | pick('namespace') }}", "payments"),
    ("${{ ('team-x' | parseEntityRef({'defaultKind': 'group'})).kind }}", "group"),
    ("${{ 'gitlab.acme.io?owner=g/sub&repo=r' | parseRepoUrl | dump }}", '{"host":"gitlab.acme.io","owner":"g/sub","repo":"r"}'),
])
def test_renders_like_nunjucks(t, source, expected):
    assert t.render(source, CTX) == expected


def test_a_whole_value_expression_keeps_its_type(t):
    raw = {"port": "${{ parameters.port }}", "flag": "${{ parameters.enabled }}", "tags": "${{ parameters.tags }}",
           "map": "${{ parameters.map }}", "text": "port ${{ parameters.port }}", "gone": "${{ parameters.missing }}",
           "blank": "${{ parameters.empty }}", "null": "${{ parameters.none }}", "nested": ["${{ parameters.ratio }}"]}
    assert t.render_value(raw, CTX) == {"port": 8080, "flag": True, "tags": ["a", "b"], "map": {"x": 1, "y": 2},
                                        "text": "port 8080", "null": None, "nested": [0.5]}


def test_step_if_follows_backstage_truthiness():
    assert [is_truthy(v) for v in (False, None, "", 0, [], {}, "false", [0], 1)] == \
        [False, False, False, False, False, True, True, True, True]


@pytest.mark.parametrize("source, message", [
    ("${{ parameters.name | nope }}", "No filter named 'nope'"),
    ("${{ 'github.com?owner=acme' | parseRepoUrl }}", "missing repo"),
    ("${{ 'git.internal.example?owner=a&repo=b' | parseRepoUrl }}", "no integration is configured for host git.internal.example"),
    ("${{ 'x' | parseEntityRef }}", "had missing or empty kind"),
    ("{% if %}", "template syntax error"),
    ("${{ 'a'.match(r/a+/) }}", "regular expression literals"),
    ("{% include 'other.njk' %}", "include is not available"),
    ("{% extends 'base' %}", "extends is not available"),
    ("${{ undefinedThing() }}", "is undefined"),
])
def test_refused_constructs_fail_with_a_message_naming_them(t, source, message):
    with pytest.raises(RenderError, match=message):
        t.render(source, CTX)


def test_cookiecutter_compat_uses_double_braces_and_jsonify():
    t = Templater(cookiecutter_compat=True)
    ctx = {"cookiecutter": {"name": "x", "items": [1, 2]}}
    assert t.render("{{ cookiecutter.name | upper }} {{ cookiecutter['items'] | jsonify }} {{ cookiecutter.name.upper() }}",
                    ctx) == "X [1,2] X"


def test_windows_line_endings_are_kept(t):
    assert t.render("a ${{ parameters.name }}\r\nb\r\n", CTX) == "a gift-cards\r\nb\r\n"


@pytest.mark.parametrize("path", [
    "src/${{ parameters.name | replace('-', '_') }}/app.py",
    "${{ parameters.name }}/${{ parameters.name }}.txt",
    "docs/${{ '' }}/never.md",
    "a/${{ 'x/y' }}/b",                          # a `/` inside an expression: rendered whole
    "a/${{ '}}/' }}b",                           # `}}` inside a string: falls back to the whole path
    "{% if parameters.enabled %}on{% endif %}/f",
    "plain/path/no-expression",
])
def test_render_path_gives_the_same_text_as_rendering_the_whole_path(t, path):
    assert t.render_path(path, CTX) == t.render(path, CTX)
