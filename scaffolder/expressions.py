"""The `${{ }}` expression language of Backstage templates, evaluated in Jinja's immutable sandbox.

Why Jinja: Nunjucks (what Backstage runs, inside isolated-vm) is a port of Jinja, so the syntax is the same
and the differences are few and known. Templates are untrusted code written by catalog contributors, so:
- rendering happens in `ImmutableSandboxedEnvironment`: no attribute starting with `_`, no Python internals,
  no mutation of lists or dicts, no imports, no loader (include/import/extends fail), globals limited to
  `range` (capped), `cycler`, `joiner`; touching an unsafe attribute fails at once (it is never a silent "");
- every render has a time budget and an output budget (`Limits`), checked inside every loop iteration,
  call, attribute access, concatenation and intercepted operator, so a nested loop, a billion-laughs chain of
  `~` or `*`, or a format-width trick stops with `LimitExceeded` instead of eating the worker;
- Nunjucks semantics where they differ from Jinja (decided for Backstage's): undefined chains quietly, null
  and undefined print as "", booleans print `true`/`false`, lists print comma-joined, a value that is exactly
  one `${{ expr }}` keeps its type, `elseif`, `===`/`!==`, `{% for k, v in object %}`, `dump`, JavaScript
  string and array methods (`toLowerCase()`, `replace()` of the first match, `split`, `length`...),
  a trailing newline is kept. Constructs Nunjucks has and Jinja lacks fail with an error naming them.
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.runtime import ChainableUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import Cycler, Joiner
from markupsafe import Markup


class RenderError(ValueError):
    """A template string could not be rendered; the message names the construct (no Python traceback)."""


class LimitExceeded(RenderError):
    """A render went over its time or size budget."""


@dataclass(frozen=True)
class Limits:
    """Per-render budgets. `max_output` bounds the rendered text and any string or list built on the way."""

    timeout: float = 5.0              # seconds of wall time per render
    max_output: int = 10 * 1024 * 1024  # characters
    max_width: int = 10_000           # widths in format specs, padding and centre/indent arguments


DEFAULT_LIMITS = Limits()

# ------------------------------------------------------------------------------------------ budget

_state = threading.local()


class _Budget:
    __slots__ = ("deadline", "limits", "ticks")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout
        self.ticks = 0


def _budget() -> _Budget | None:
    return getattr(_state, "budget", None)


def _tick() -> None:
    budget = _budget()
    if budget is None:
        return
    budget.ticks += 1
    if budget.ticks & 63 == 0 and time.monotonic() > budget.deadline:
        raise LimitExceeded(f"rendering took longer than {budget.limits.timeout:g} s (loop or recursion too large)")


def _check_size(value: Any) -> Any:
    budget = _budget()
    limit = budget.limits.max_output if budget else DEFAULT_LIMITS.max_output
    if isinstance(value, (str, list, tuple)) and len(value) > limit:
        raise LimitExceeded(f"a value of {len(value):,} characters or items is larger than the limit of {limit:,}")
    return value


def _max_width() -> int:
    budget = _budget()
    return budget.limits.max_width if budget else DEFAULT_LIMITS.max_width


def _width_ok(number: Any, what: str) -> None:
    if isinstance(number, int) and abs(number) > _max_width():
        raise LimitExceeded(f"{what} {number:,} is larger than the limit of {_max_width():,}")


_PERCENT_SPEC = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:[^{}]*?(\d+)[^{}]*\}")


def _check_format_string(fmt: Any) -> None:
    if not isinstance(fmt, str):
        return
    for match in _PERCENT_SPEC.finditer(fmt):
        for group in match.groups():
            if group == "*":
                raise LimitExceeded("'*' widths in format strings are not allowed")
            if group and int(group) > _max_width():
                raise LimitExceeded(f"format width {group} is larger than the limit of {_max_width():,}")
    for match in _BRACE_SPEC.finditer(fmt):
        if int(match.group(1)) > _max_width():
            raise LimitExceeded(f"format width {match.group(1)} is larger than the limit of {_max_width():,}")


# ------------------------------------------------------------------------------------------ JS-like values

def printed_size(value: Any, limit: int) -> int:
    """An upper estimate of how long `value` is once printed or dumped, counting shared references each time
    they appear (a list of 100,000 references to one long string is long), stopping early past `limit`."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, Mapping):
            total += 2
            for k, v in item.items():
                total += len(str(k)) + 4
                stack.append(v)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 24
        if total > limit:
            return total
    return total


def _check_printed(value: Any, what: str = "a value") -> None:
    limit = _budget_limit()
    if not isinstance(value, (str, int, float, bool)) and value is not None \
            and printed_size(value, limit) > limit:
        raise LimitExceeded(f"{what} would print larger than the limit of {limit:,} characters")


def js_str(value: Any) -> str:
    """How Nunjucks prints a value: null/undefined -> "", true/false, 8080 (not 8080.0), lists comma-joined."""
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
            return str(int(value))
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        _check_printed(value, "a list")
        return ",".join(js_str(v) for v in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    if callable(value):
        return "[function]"
    return str(value)


def to_data(value: Any, *, where: str = "the expression") -> Any:
    """A rendered value as plain JSON data (what Backstage's `| dump` + JSON.parse round trip yields)."""
    if isinstance(value, Undefined):
        return None
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value == int(value) and abs(value) < 2 ** 53 else value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_data(v, where=where) for k, v in value.items() if not isinstance(v, Undefined)}
    if isinstance(value, (list, tuple)):
        return [to_data(v, where=where) for v in value]
    raise RenderError(f"{where} produced a {type(value).__name__}, which is not data (string, number, boolean, "
                      f"list or object)")


def dump(value: Any, indent: Any = None) -> str:
    """Nunjucks' `dump` (JSON.stringify): compact separators, unicode kept, undefined prints as ""."""
    if isinstance(value, Undefined):
        return ""
    spaces = None
    if isinstance(indent, (int, float)) and not isinstance(indent, bool):
        spaces = max(0, min(int(indent), 10))
    elif isinstance(indent, str) and indent:
        spaces = indent[:10]
    _check_printed(value, "dump")
    data = to_data(value, where="dump")
    if spaces:
        return _check_size(json.dumps(data, ensure_ascii=False, indent=spaces))
    return _check_size(json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def _js_index(n: Any, length: int) -> int:
    n = int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else 0
    return max(0, length + n) if n < 0 else min(n, length)


def _js_split(s: str, sep: Any = None, limit: Any = None) -> list[str]:
    if sep is None or isinstance(sep, Undefined):
        parts = [s]
    elif sep == "":
        parts = list(s)
    else:
        parts = s.split(str(sep))
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        parts = parts[: max(0, int(limit))]
    return _check_size(parts)


def _js_replace(s: str, old: Any, new: Any = "") -> str:
    old, new = js_str(old), js_str(new)
    return _check_size(s.replace(old, new, 1))


def _js_replace_all(s: str, old: Any, new: Any = "") -> str:
    old, new = js_str(old), js_str(new)
    if old and s.count(old) * max(len(new), 1) > _budget_limit():
        raise LimitExceeded("replaceAll would build a string larger than the limit")
    return _check_size(s.replace(old, new))


def _budget_limit() -> int:
    budget = _budget()
    return budget.limits.max_output if budget else DEFAULT_LIMITS.max_output


def _pad(s: str, width: Any, fill: Any, start: bool) -> str:
    width = int(width) if isinstance(width, (int, float)) else 0
    _width_ok(width, "padding width")
    fill = js_str(fill) if fill is not None else " "
    if width <= len(s) or not fill:
        return s
    pad = (fill * (width - len(s)))[: width - len(s)]
    return pad + s if start else s + pad


def _repeat(s: str, count: Any) -> str:
    count = int(count) if isinstance(count, (int, float)) else 0
    if count < 0:
        raise RenderError("repeat count must be non-negative")
    if len(s) * count > _budget_limit():
        raise LimitExceeded("repeat would build a string larger than the limit")
    return s * count


def _string_methods(s: str) -> dict[str, Callable[..., Any]]:
    return {
        "toLowerCase": lambda: s.lower(), "toUpperCase": lambda: s.upper(),
        "toLocaleLowerCase": lambda: s.lower(), "toLocaleUpperCase": lambda: s.upper(),
        "trim": lambda: s.strip(), "trimStart": lambda: s.lstrip(), "trimEnd": lambda: s.rstrip(),
        "startsWith": lambda p, pos=0: s.startswith(js_str(p), _js_index(pos, len(s))),
        "endsWith": lambda p, end=None: s[: _js_index(end, len(s)) if end is not None else len(s)].endswith(js_str(p)),
        "includes": lambda p, pos=0: js_str(p) in s[_js_index(pos, len(s)):],
        "indexOf": lambda p, pos=0: s.find(js_str(p), _js_index(pos, len(s))),
        "lastIndexOf": lambda p: s.rfind(js_str(p)),
        "slice": lambda a=0, b=None: s[_js_index(a, len(s)): _js_index(b, len(s)) if b is not None else len(s)],
        "substring": lambda a=0, b=None: _substring(s, a, b),
        "substr": lambda a=0, n=None: s[_js_index(a, len(s)):][: int(n) if n is not None else None],
        "charAt": lambda i=0: s[int(i)] if 0 <= int(i) < len(s) else "",
        "at": lambda i=0: s[int(i)] if -len(s) <= int(i) < len(s) else None,
        "concat": lambda *parts: _check_size(s + "".join(js_str(p) for p in parts)),
        "split": lambda sep=None, limit=None: _js_split(s, sep, limit),
        "replace": lambda old, new="": _js_replace(s, old, new),
        "replaceAll": lambda old, new="": _js_replace_all(s, old, new),
        "padStart": lambda width, fill=" ": _pad(s, width, fill, True),
        "padEnd": lambda width, fill=" ": _pad(s, width, fill, False),
        "repeat": lambda count: _repeat(s, count),
        "toString": lambda: s, "valueOf": lambda: s,
    }


def _join(items: Any, sep: Any = ",") -> str:
    _check_printed(list(items) if not isinstance(items, (list, tuple)) else items, "join")
    return _check_size(js_str(sep).join(js_str(v) for v in items))


def _substring(s: str, a: Any, b: Any) -> str:
    n = len(s)
    start = min(max(int(a or 0), 0), n)
    end = n if b is None else min(max(int(b), 0), n)
    if start > end:
        start, end = end, start
    return s[start:end]


def _list_methods(items: list | tuple) -> dict[str, Callable[..., Any]]:
    return {
        "join": lambda sep=",": _join(items, sep),
        "includes": lambda v: v in items,
        "indexOf": lambda v: items.index(v) if v in items else -1,
        "slice": lambda a=0, b=None: list(items[_js_index(a, len(items)): _js_index(b, len(items))
                                                if b is not None else len(items)]),
        "concat": lambda *more: _check_size(list(items) + [x for m in more for x in (m if isinstance(m, (list, tuple)) else [m])]),
        "at": lambda i=0: items[int(i)] if -len(items) <= int(i) < len(items) else None,
        "toString": lambda: js_str(items),
    }


_JS_STRING = frozenset(_string_methods("").keys())
_JS_LIST = frozenset(_list_methods([]).keys())
# Python str methods whose width arguments could build huge strings
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


# ------------------------------------------------------------------------------------------ Nunjucks syntax


class NunjucksSyntax(Extension):
    """Token-level Nunjucks compatibility: `elseif`, `===`/`!==`, and a clear error for regex literals."""

    def filter_stream(self, stream: TokenStream) -> Iterable[Token]:
        previous: Token | None = None
        pending: Token | None = None
        for token in stream:
            if pending is not None:
                if token.type == "assign":       # `==` `=` -> `===`; `!=` `=` -> `!==`
                    yield pending
                    pending = None
                    previous = token
                    continue
                yield pending
                pending = None
            if token.type == "name" and token.value == "elseif" and previous is not None \
                    and previous.type == "block_begin":
                token = Token(token.lineno, "name", "elif")
            if token.type == "div" and previous is not None and previous.type == "name" and previous.value == "r":
                raise TemplateSyntaxError("Nunjucks regular expression literals (r/.../) are not supported",
                                          token.lineno, stream.name, stream.filename)
            if token.type in ("eq", "ne"):
                pending = token
                previous = token
                continue
            previous = token
            yield token
        if pending is not None:
            yield pending


class _GuardedCodeGenerator(CodeGenerator):
    """`a ~ b` builds its string through the environment, so concatenation is size-checked and JS-printed."""

    def visit_Concat(self, node: nodes.Concat, frame) -> None:  # noqa: N802 (Jinja's visitor names)
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _pairs(value: Any) -> Any:
    """`{% for k, v in obj %}` iterates an object's entries in Nunjucks; lists are left alone."""
    if isinstance(value, Mapping):
        return list(value.items())
    return value


def _guarded_iter(value: Any) -> Iterator[Any]:
    if isinstance(value, Undefined):
        return
    for item in value:
        _tick()
        yield item


class TrellisSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with budgets and Nunjucks semantics (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, *, js_methods: bool = True, **options: Any) -> None:
        super().__init__(
            autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True, finalize=js_str,
            extensions=[NunjucksSyntax], **options,
        )
        self.js_methods = js_methods
        self.policies["truncate.leeway"] = 0          # Nunjucks truncates exactly
        self.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "separators": (",", ":")}
        self.globals.clear()
        self.globals.update(range=self.globals_range, cycler=Cycler, joiner=Joiner, null=None,
                            __trellis_iter=_guarded_iter, __trellis_pairs=_pairs)

    @staticmethod
    def globals_range(*args: Any) -> range:
        return safe_range(*args)

    # -------------------------------------------------------------- parse-time guards

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        template = super()._parse(source, name, filename)
        for node in template.find_all((nodes.For,)):
            iterable = node.iter
            if isinstance(node.target, nodes.Tuple) and len(node.target.items) == 2:
                iterable = nodes.Call(nodes.Name("__trellis_pairs", "load"), [iterable], [], None, None,
                                      lineno=node.lineno)
            node.iter = nodes.Call(nodes.Name("__trellis_iter", "load"), [iterable], [], None, None,
                                   lineno=node.lineno)
        for node in template.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            raise TemplateSyntaxError(f"{type(node).__name__.lower()} is not available in templates "
                                      f"(no other files can be loaded)", node.lineno, name, filename)
        return template

    # -------------------------------------------------------------- run-time guards

    def guarded_concat(self, parts: Iterable[Any]) -> str:
        total = 0
        out = []
        limit = _budget_limit()
        for part in parts:
            text = js_str(part)
            total += len(text)
            if total > limit:
                raise LimitExceeded(f"a string built with '~' is larger than the limit of {limit:,} characters")
            out.append(text)
        _tick()
        return "".join(out)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        limit = _budget_limit()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and not isinstance(n, bool) \
                        and printed_size(seq, limit) * max(n, 0) > limit:
                    raise LimitExceeded(f"'*' would build a value larger than the limit of {limit:,} characters")
        elif operator == "**":
            if isinstance(right, (int, float)) and isinstance(left, (int, float)) and abs(right) > 1000:
                raise LimitExceeded("exponents above 1000 are not allowed")
        elif operator == "%":
            if isinstance(left, str):
                _check_format_string(left)
                _check_printed(right, "the values formatted with '%'")
        elif operator == "+":
            if isinstance(left, str) or isinstance(right, str):
                # JavaScript: "a" + 1 is "a1"
                if not (isinstance(left, str) and isinstance(right, str)):
                    return self.guarded_concat((left, right))
                if len(left) + len(right) > limit:
                    raise LimitExceeded(f"'+' would build a string larger than the limit of {limit:,}")
            elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)) \
                    and len(left) + len(right) > limit:
                raise LimitExceeded(f"'+' would build a list larger than the limit of {limit:,}")
        return self.binop_table[operator](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        name = getattr(__obj, "__name__", "")
        if name in _WIDTH_METHODS and isinstance(getattr(__obj, "__self__", None), str):
            for arg in args:
                _width_ok(arg, f"{name}() width")
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_size(result) if isinstance(result, (str, list)) else result

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, Mapping) and attribute in obj:   # Nunjucks: `obj.items` is the key, not dict.items
            return obj[attribute]
        if self.js_methods:
            special = self._js_attribute(obj, attribute)
            if special is not None:
                return special
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        if self.js_methods and isinstance(argument, str):
            special = self._js_attribute(obj, argument)
            if special is not None and not (isinstance(obj, Mapping) and argument in obj):
                return special
        return super().getitem(obj, argument)

    def _js_attribute(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) or isinstance(obj, Undefined):
            return None
        if isinstance(obj, str):
            if attribute == "length":
                return len(obj)
            if attribute in _JS_STRING:
                return _string_methods(obj)[attribute]
        elif isinstance(obj, (list, tuple)):
            if attribute == "length":
                return len(obj)
            if attribute in _JS_LIST:
                return _list_methods(obj)[attribute]
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            if attribute == "toString":
                return lambda: js_str(obj)
            if attribute == "toFixed":
                return lambda digits=0: f"{obj:.{max(0, min(int(digits), 100))}f}"
        return None

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} value is not allowed "
                            f"in templates")

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format_string(value.__self__)
            _check_printed(list(args) + list(kwargs.values()), "the values formatted")
            return _check_size(wrapped(*args, **kwargs))

        return checked


# ------------------------------------------------------------------------------------------ filters

def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Every filter ticks the budget, refuses a value that would print larger than the limit, and has its
    result size-checked; filters taking widths or counts have them checked before they run."""
    pass_arg = getattr(func, "jinja_pass_arg", None)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        plain = args[1:] if pass_arg is not None else args
        if plain:
            _check_printed(plain[0], f"the value given to '{name}'")
        if name in ("center", "indent", "wordwrap", "batch", "slice"):
            sizes = list(plain[1:2]) + [kwargs[k] for k in ("width", "linecount", "slices") if k in kwargs]
            for size in sizes:
                _width_ok(size, f"{name} argument")
                if isinstance(size, str) and plain and isinstance(plain[0], str) \
                        and len(size) * (plain[0].count("\n") + 1) > _budget_limit():
                    raise LimitExceeded(f"{name} would build a string larger than the limit")
        if name == "format" and plain:
            _check_format_string(plain[0])
            _check_printed(list(plain[1:]) + list(kwargs.values()), "the values formatted")
        if name == "replace" and len(plain) >= 3 and isinstance(plain[0], str):
            old, new = js_str(plain[1]), js_str(plain[2])
            if old and plain[0].count(old) * max(len(new), 1) > _budget_limit():
                raise LimitExceeded("replace would build a string larger than the limit")
        result = func(*args, **kwargs)
        return _check_size(result) if isinstance(result, (str, list)) else result

    if pass_arg is not None:
        guarded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    guarded.__name__ = getattr(func, "__name__", name)
    return guarded


def _nl2br(value: Any) -> str:
    return re.sub(r"\r\n|\n", "<br />\n", js_str(value))


_NUNJUCKS_FILTERS: dict[str, Callable[..., Any]] = {"dump": dump, "nl2br": _nl2br, "string": js_str,
                                                    "join": lambda value, d="", attribute=None: _join(
                                                        [v.get(attribute) if attribute and isinstance(v, Mapping)
                                                         else v for v in value] if attribute else value, d)}


# ------------------------------------------------------------------------------------------ the templater

_SINGLE = re.compile(r"^\$\{\{(.*)\}\}$", re.DOTALL)


class Templater:
    """Renders template strings and step inputs; one per (filters, options) set, reusable across renders."""

    def __init__(self, filters: Mapping[str, Callable[..., Any]] | None = None, *, limits: Limits = DEFAULT_LIMITS,
                 cookiecutter_compat: bool = False, trim_blocks: bool = False, lstrip_blocks: bool = False) -> None:
        self.limits = limits
        start, end = ("{{", "}}") if cookiecutter_compat else ("${{", "}}")
        options = dict(variable_start_string=start, variable_end_string=end, trim_blocks=bool(trim_blocks),
                       lstrip_blocks=bool(lstrip_blocks))
        self.env = TrellisSandbox(js_methods=not cookiecutter_compat, **options)
        self._crlf_env: TrellisSandbox | None = None
        self._options = options
        extra = dict(_NUNJUCKS_FILTERS)
        if cookiecutter_compat:
            extra["jsonify"] = dump
        extra.update(filters or {})
        self._install_filters(self.env, extra)
        self._extra = extra
        self._compiled = lru_cache(maxsize=2048)(self._compile)
        self._expressions = lru_cache(maxsize=2048)(self._compile_expression)

    @staticmethod
    def _install_filters(env: TrellisSandbox, extra: Mapping[str, Callable[..., Any]]) -> None:
        env.filters.update(extra)
        env.filters = {name: _guard_filter(name, f) for name, f in env.filters.items()}

    def _env_for(self, source: str) -> TrellisSandbox:
        if "\r\n" not in source:
            return self.env
        if self._crlf_env is None:   # Nunjucks keeps Windows line endings; Jinja would turn them into \n
            self._crlf_env = TrellisSandbox(js_methods=self.env.js_methods, newline_sequence="\r\n", **self._options)
            self._install_filters(self._crlf_env, self._extra)
        return self._crlf_env

    def _compile(self, source: str):
        try:
            return self._env_for(source).from_string(source)
        except TemplateSyntaxError as exc:
            raise RenderError(f"template syntax error on line {exc.lineno}: {exc.message}") from None
        except RecursionError:
            raise RenderError("the template is nested too deeply") from None

    def _compile_expression(self, source: str):
        try:
            return self.env.compile_expression(source, undefined_to_none=False)
        except TemplateSyntaxError as exc:
            raise RenderError(f"expression syntax error: {exc.message}") from None
        except RecursionError:
            raise RenderError("the expression is nested too deeply") from None

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        """Render a template string (a skeleton file, a file name, a mixed string) to text."""
        if "{" not in source:   # nothing to render: no `${{`, `{%` or `{#`
            return source
        template = self._compiled(source)
        with self._budgeted():
            try:
                out: list[str] = []
                size = 0
                for chunk in template.generate(dict(context)):
                    size += len(chunk)
                    if size > self.limits.max_output:
                        raise LimitExceeded(f"the rendered text is larger than the limit of "
                                            f"{self.limits.max_output:,} characters")
                    _tick()
                    out.append(chunk)
                return "".join(out)
            except (RenderError, MemoryError):
                raise
            except RecursionError:
                raise RenderError("the template recursed too deeply") from None
            except SecurityError as exc:
                raise RenderError(f"refused: {exc}") from None
            except (TemplateError, UndefinedError) as exc:
                raise RenderError(f"template error: {exc}") from None
            except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
                raise RenderError(f"template error: {_describe(exc)}") from None

    def render_path(self, path: str, context: Mapping[str, Any]) -> str:
        """A file or folder name of a skeleton. Rendered one `/`-separated segment at a time when every
        `${{ }}` sits inside one segment (a `/` outside an expression is literal text, so the result is the
        same as rendering the whole path): a skeleton's hundreds of paths then compile their few distinct
        segments once instead of each whole path. Anything else (a block tag, a `/` inside an expression, a
        segment that does not parse alone) renders the whole path."""
        if "{" not in path or "/" not in path or "{%" in path or "{#" in path:
            return self.render(path, context)
        parts = path.split("/")
        if all(self._self_contained(part) for part in parts):
            try:
                return "/".join(self.render(part, context) for part in parts)
            except LimitExceeded:
                raise
            except RenderError:
                pass
        return self.render(path, context)

    def _self_contained(self, part: str) -> bool:
        start, end = self._options["variable_start_string"], self._options["variable_end_string"]
        pos = 0
        while (begin := part.find(start, pos)) != -1:
            close = part.find(end, begin + len(start))
            following = part.find(start, begin + len(start))
            if close == -1 or (following != -1 and following < close):
                return False
            pos = close + len(end)
        return True

    def evaluate(self, expression: str, context: Mapping[str, Any]) -> Any:
        """The value of one expression (the inside of `${{ }}`), as data; Undefined for a missing value."""
        compiled = self._expressions(expression)
        with self._budgeted():
            try:
                return compiled(**dict(context))
            except RenderError:
                raise
            except RecursionError:
                raise RenderError("the expression recursed too deeply") from None
            except SecurityError as exc:
                raise RenderError(f"refused: {exc}") from None
            except (TemplateError, UndefinedError) as exc:
                raise RenderError(f"expression error: {exc}") from None
            except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
                raise RenderError(f"expression error: {_describe(exc)}") from None

    def render_value(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Backstage's rendering of step inputs, `if`, `each` and `output`: strings are templates; a string that
        is exactly one `${{ expr }}` keeps the expression's type; "" and undefined drop the key."""
        return _MISSING_TO_NONE(self._render_value(value, context))

    def _render_value(self, value: Any, context: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            single = single_expression(value)
            if single is not None:
                result = self.evaluate(single, context)
                if isinstance(result, Undefined):
                    return _MISSING
                data = to_data(result, where=f"${{{{{single}}}}}")
                return _MISSING if data == "" else data
            text = self.render(value, context)
            return _MISSING if text == "" else text
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                rendered = self._render_value(item, context)
                if rendered is not _MISSING:
                    out[key] = rendered
            return out
        if isinstance(value, list):
            return [None if (r := self._render_value(item, context)) is _MISSING else r for item in value]
        return value

    def _budgeted(self):
        return _BudgetScope(self.limits)


class _BudgetScope:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.outer: _Budget | None = None

    def __enter__(self) -> None:
        self.outer = _budget()
        if self.outer is None:            # nested renders (a filter rendering) share the outer budget
            _state.budget = _Budget(self.limits)

    def __exit__(self, *exc: object) -> None:
        if self.outer is None:
            _state.budget = None


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _MISSING_TO_NONE(value: Any) -> Any:  # noqa: N802
    return None if value is _MISSING else value


def single_expression(value: str) -> str | None:
    """The inside of `value` when it is exactly one `${{ expr }}` (Backstage's isSingleTemplateString)."""
    match = _SINGLE.match(value)
    if match is None:
        return None
    inner = match.group(1)
    if "}}" in inner or "${{" in inner:
        return None
    return inner


def is_truthy(value: Any) -> bool:
    """Backstage's isTruthy for `if:`: false, undefined, null, "", 0 and [] are false; {} is true (JavaScript)."""
    if isinstance(value, Undefined) or value is None:
        return False
    if isinstance(value, (list, tuple)):
        return len(value) > 0
    if isinstance(value, Mapping):
        return True
    return bool(value)


def _describe(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, TypeError) and "not callable" in text:
        return text + " (only filters, tests and the documented methods can be called)"
    return text or type(exc).__name__


__all__ = ["Templater", "RenderError", "LimitExceeded", "Limits", "DEFAULT_LIMITS", "js_str", "dump", "to_data",
           "is_truthy", "single_expression", "Markup"]
