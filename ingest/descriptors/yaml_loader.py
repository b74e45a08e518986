"""A safe, bounded YAML loader for descriptor files.

Why not plain `yaml.safe_load_all`:
- Alias bombs ("billion laughs"): SafeLoader builds *shared* references, so loading is cheap but anything
  that later walks or JSON-serialises the result explodes. We count alias uses while composing and measure
  the alias-expanded size (nodes, scalar characters, depth) of each document on the node graph, memoised
  per shared node, before constructing Python objects. Recursive aliases are refused.
- YAML 1.2 core schema, like Backstage's `yaml` parser: `yes`/`no`/`on`/`off` stay strings, `0755` is
  decimal, `1:20` and `2024-01-01` stay strings. Results are always JSON-compatible values.
- Only standard tags (str, int, float, bool, null, seq, map, merge); `!!binary`, `!!set`, `!!python/...`
  and local tags are refused. Duplicate keys in one mapping are refused (Backstage refuses them too).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (AliasEvent, DocumentEndEvent, DocumentStartEvent, MappingEndEvent, MappingStartEvent,
                         ScalarEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent, StreamStartEvent)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from .limits import Limits

try:  # libyaml's event parser is ~10x faster; composing stays in Python so the limits still apply
    from yaml._yaml import CParser as _EventParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _EventParser = None

_T = "tag:yaml.org,2002:"
# Characters YAML forbids in a stream (same set as PyYAML's Reader checks).
_NON_PRINTABLE = re.compile(
    "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


class LimitExceeded(Exception):
    """A document is too expensive to load; the message is the rejection reason."""


class ExpansionExceeded(LimitExceeded):
    """A fully composed document expands too far; the stream itself is still readable."""


class CoreResolver(BaseResolver):
    """YAML 1.2 core-schema implicit typing (what Backstage's parser does)."""


CoreResolver.add_implicit_resolver(
    _T + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
CoreResolver.add_implicit_resolver(
    _T + "int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
CoreResolver.add_implicit_resolver(
    _T + "float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
CoreResolver.add_implicit_resolver(
    _T + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
CoreResolver.add_implicit_resolver(_T + "merge", re.compile(r"^(?:<<)$"), ["<"])


class CatalogConstructor(SafeConstructor):
    """SafeConstructor restricted to JSON-compatible values with YAML 1.2 scalar rules."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict:
        if isinstance(node, MappingNode):
            seen: dict[tuple[str, str], Node] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, ScalarNode) and key_node.tag != _T + "merge":
                    token = (key_node.tag, key_node.value)
                    if token in seen:
                        raise ConstructorError(
                            None, None, f"duplicate key {key_node.value!r} in one mapping",
                            key_node.start_mark)
                    seen[token] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_core_int(self, node: ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        try:
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text, 10)
        except ValueError:
            raise ConstructorError(None, None, f"{text!r} is not an integer", node.start_mark) from None

    def construct_core_float(self, node: ScalarNode) -> float:
        text = str(self.construct_scalar(node)).lower()
        if text.endswith(".inf"):
            return float("-inf") if text.startswith("-") else float("inf")
        if text == ".nan":
            return float("nan")
        try:
            return float(text)
        except ValueError:
            raise ConstructorError(None, None, f"{text!r} is not a number", node.start_mark) from None

    def construct_core_bool(self, node: ScalarNode) -> bool:
        text = str(self.construct_scalar(node)).lower()
        if text not in ("true", "false"):
            raise ConstructorError(None, None, f"{text!r} is not a boolean", node.start_mark)
        return text == "true"

    def construct_disallowed(self, node: Node) -> Any:
        tag = node.tag.replace(_T, "!!", 1) if node.tag.startswith(_T) else node.tag
        raise ConstructorError(
            None, None, f"YAML tag {tag!r} is not allowed (only standard JSON-like tags are)",
            node.start_mark)


CatalogConstructor.yaml_constructors = {}
CatalogConstructor.add_constructor(_T + "null", SafeConstructor.construct_yaml_null)
CatalogConstructor.add_constructor(_T + "bool", CatalogConstructor.construct_core_bool)
CatalogConstructor.add_constructor(_T + "int", CatalogConstructor.construct_core_int)
CatalogConstructor.add_constructor(_T + "float", CatalogConstructor.construct_core_float)
CatalogConstructor.add_constructor(_T + "str", SafeConstructor.construct_yaml_str)
CatalogConstructor.add_constructor(_T + "timestamp", SafeConstructor.construct_yaml_str)
CatalogConstructor.add_constructor(_T + "merge", SafeConstructor.construct_yaml_str)  # `<<` as a value
CatalogConstructor.add_constructor(_T + "seq", SafeConstructor.construct_yaml_seq)
CatalogConstructor.add_constructor(_T + "map", SafeConstructor.construct_yaml_map)
CatalogConstructor.add_constructor(None, CatalogConstructor.construct_disallowed)


class _Bounded(Composer):
    """Composer that counts aliases and depth while composing and measures each finished document."""

    limits: Limits

    def _init_bounds(self, limits: Limits) -> None:
        Composer.__init__(self)
        CatalogConstructor.__init__(self)
        CoreResolver.__init__(self)
        self.limits = limits
        self.line_offset = 0      # where this text starts in its file (reading resumed after a broken document)
        self._aliases = 0
        self._depth = 0

    def compose_document(self) -> Node:
        self._aliases = 0
        self._depth = 0
        node = super().compose_document()
        _measure(node, self.limits)
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                raise LimitExceeded(
                    f"document uses more than {self.limits.max_aliases} YAML aliases "
                    f"(line {self.peek_event().start_mark.line + 1 + self.line_offset})")
            return super().compose_node(parent, index)
        nested = self.check_event(SequenceStartEvent, MappingStartEvent)
        if nested:
            self._depth += 1
            if self._depth > self.limits.max_depth:
                raise LimitExceeded(
                    f"document nests deeper than {self.limits.max_depth} levels "
                    f"(line {self.peek_event().start_mark.line + 1 + self.line_offset})")
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1

    def reset_constructor(self) -> None:
        """Forget a half-constructed document so the next one starts clean."""
        self.constructed_objects = {}
        self.recursive_objects = {}
        self.state_generators = []
        self.deep_construct = False


class PyCatalogLoader(_Bounded, Reader, Scanner, Parser, CatalogConstructor, CoreResolver):
    """The bounded loader on PyYAML's pure-Python scanner and parser."""

    def __init__(self, text: str, limits: Limits) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        self._init_bounds(limits)


if _EventParser is not None:
    class FastCatalogLoader(_Bounded, _EventParser, CatalogConstructor, CoreResolver):
        """The bounded loader on libyaml's event parser (events only; composing stays ours)."""

        def __init__(self, text: str, limits: Limits) -> None:
            _EventParser.__init__(self, text)
            self._init_bounds(limits)

    CatalogLoader: type[_Bounded] = FastCatalogLoader
else:  # pragma: no cover
    CatalogLoader = PyCatalogLoader


def _measure(root: Node, limits: Limits) -> None:
    """Refuse a document whose alias-expanded size, text or depth is over the limits.

    Shared nodes are measured once (memoised by identity), so this is linear in the composed graph even
    for a bomb that would expand to billions of nodes.
    """
    memo: dict[int, tuple[int, int, int]] = {}
    active: set[int] = set()

    def size(node: Node) -> tuple[int, int, int]:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise ExpansionExceeded(
                f"document contains a recursive YAML alias (line {node.start_mark.line + 1})")
        if isinstance(node, ScalarNode):
            result = (1, len(node.value), 0)
        else:
            active.add(key)
            nodes, chars, depth = 1, 0, 0
            children = node.value if isinstance(node, SequenceNode) else [
                child for pair in node.value for child in pair]
            for child in children:
                n, c, d = size(child)
                nodes, chars, depth = nodes + n, chars + c, max(depth, d)
                if nodes > limits.max_nodes:
                    raise ExpansionExceeded(
                        f"document expands to more than {limits.max_nodes:,} YAML nodes through "
                        f"aliases or repetition (alias bomb?)")
                if chars > limits.max_expanded_chars:
                    raise ExpansionExceeded(
                        f"document expands to more than {limits.max_expanded_chars:,} characters "
                        f"of text through aliases (alias bomb?)")
            depth += 1
            if depth > limits.max_depth:
                raise ExpansionExceeded(
                    f"document nests deeper than {limits.max_depth} levels once aliases are expanded")
            active.discard(key)
            result = (nodes, chars, depth)
        memo[key] = result
        return result

    size(root)


@dataclass(frozen=True)
class LoadedDocument:
    """One YAML document of a stream (data may be None for an empty document)."""

    index: int
    data: Any


@dataclass(frozen=True)
class LoadFailure:
    """A document (or, with index None, the whole stream) that could not be loaded."""

    index: int | None
    reason: str


def _mark_reason(exc: yaml.MarkedYAMLError, line_offset: int = 0) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    if exc.context:
        problem = f"{problem} ({exc.context})"
    if mark is None:
        return f"malformed YAML: {problem}"
    return f"malformed YAML at line {mark.line + 1 + line_offset}, column {mark.column + 1}: {problem}"


def _reader_reason(exc: ReaderError, text: str) -> str:
    line = text.count("\n", 0, exc.position) + 1
    char = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return f"file contains a control character YAML does not allow (#x{char:04x}) on line {line}"


def _construct_reason(exc: yaml.MarkedYAMLError, line_offset: int = 0) -> str:
    mark = exc.problem_mark
    where = f" at line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark else ""
    return f"invalid YAML{where}: {exc.problem}"


# A document start marker: `---` at column 0 followed by a blank or the end of the line. In YAML it always
# separates documents (inside a quoted or block scalar too), so it is where reading can start again.
_DOCUMENT_START = re.compile(r"^---(?=[ \t\r]|$)", re.M)


def load_documents(
    text: str, limits: Limits, loader_class: type[_Bounded] | None = None
) -> Iterator[LoadedDocument | LoadFailure]:
    """Each document of a multi-document stream, or a failure for it.

    A construction error (bad tag, duplicate key) or an expansion limit only fails its document. A syntax
    error or a limit hit while parsing fails its document and reading resumes at the next `---` marker
    (like Backstage, which parses documents separately), so the valid documents after a broken one still
    land; document indexes stay those of the whole file.
    """
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        yield LoadFailure(None, f"file contains a control character YAML does not allow "
                                f"(#x{ord(bad.group()):04x}) on line {line}")
        return
    if loader_class is None:
        plain = _plain_documents(text, limits)
        if plain is not None:
            yield from plain
            return
    loader_class = loader_class or CatalogLoader
    markers: list[tuple[int, int]] | None = None     # (line, offset) of each `---`, computed on first need
    offset, line_offset, index = 0, 0, 0
    while True:
        resume_after = yield from _load_from(text[offset:], limits, loader_class, line_offset, index)
        if resume_after is None:
            return
        index, failed_line = resume_after
        if markers is None:
            markers = [(text.count("\n", 0, m.start()), m.start()) for m in _DOCUMENT_START.finditer(text)]
        following = [(line, start) for line, start in markers if line > failed_line]
        if not following:
            return
        line_offset, offset = following[0]


def _load_from(text: str, limits: Limits, loader_class: type[_Bounded], line_offset: int,
               index: int) -> Iterator[LoadedDocument | LoadFailure]:
    """Documents of `text` (which starts at line `line_offset` of the file, after `index` documents).

    Returns None at the end of the stream, or (documents so far, the failed document's first line) after
    a failure that ends this parse, so the caller can resume at the next document marker.
    """
    try:
        loader = loader_class(text, limits)
    except ReaderError as exc:
        yield LoadFailure(None, _reader_reason(exc, text))
        return None
    loader.line_offset = line_offset
    start = line_offset
    try:
        while True:
            try:
                if not loader.check_node():
                    return None
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                yield LoadFailure(index + 1, _mark_reason(exc, line_offset))
                return index + 1, (mark.line + line_offset) if mark else start
            index += 1
            start = loader.peek_event().start_mark.line + line_offset
            try:
                node = loader.get_node()
            except ExpansionExceeded as exc:
                # Measured after the whole document was composed: the parser sits at the next one.
                yield LoadFailure(index, str(exc))
                continue
            except LimitExceeded as exc:
                # Hit mid-document (alias count, depth): resume at the next document marker.
                yield LoadFailure(index, str(exc))
                return index, start
            except yaml.MarkedYAMLError as exc:
                yield LoadFailure(index, _mark_reason(exc, line_offset))
                return index, start
            except RecursionError:
                yield LoadFailure(index, "document is nested too deeply to read")
                return index, start
            try:
                data = loader.construct_document(node)
            except ConstructorError as exc:
                loader.reset_constructor()
                yield LoadFailure(index, _construct_reason(exc, line_offset))
                continue
            yield LoadedDocument(index, data)
    except ReaderError as exc:
        yield LoadFailure(None, _reader_reason(exc, text))
        return None
    finally:
        loader.dispose()


# ------------------------------------------------------------------------------------------ fast path

_FALLBACK = object()          # the document needs the full loader
_NO_KEY = object()            # a mapping waiting for its next key
_STR = _T + "str"
_CONSTRUCT_PLAIN = {
    _T + "null": lambda text: None,
    _T + "bool": lambda text: text.lower() == "true",
    _T + "int": lambda text: int(text[2:], 8) if text.startswith("0o") else
                             int(text[2:], 16) if text.startswith("0x") else int(text, 10),
    _T + "float": lambda text: _core_float(text),
}


def _core_float(text: str) -> float:
    """CatalogConstructor.construct_core_float on a plain scalar's text."""
    text = text.lower()
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text == ".nan":
        return float("nan")
    return float(text)


def _resolve_plain(value: str) -> str:
    """The tag CoreResolver gives an untagged plain scalar (what Composer.resolve answers)."""
    for tag, regexp in CoreResolver.yaml_implicit_resolvers.get(value[0] if value else "", ()):
        if regexp.match(value):
            return tag
    return _STR


def _plain_documents(text: str, limits: Limits) -> list[LoadedDocument] | None:
    """Every document of `text`, built straight from libyaml's events, or None: then the full loader reads it.

    Why: composing nodes, constructing values and measuring the node graph in Python was most of reading a
    large catalog. Almost every descriptor file is plain data: no anchor, alias, tag or `<<` merge key, no
    duplicate or non-scalar key, under every limit, and parses cleanly. For such a file this builds the same
    values the full loader builds (same events, the same core-schema resolution and constructors), in one
    pass. Anything else, anywhere in the file, and the whole file goes to the full loader, which owns every
    failure, its wording and line, and reading on after a broken document.
    """
    if _EventParser is None:   # pragma: no cover - PyYAML built without libyaml
        return None
    parser = _EventParser(text)
    try:
        get = parser.get_event
        if type(get()) is not StreamStartEvent:
            return None
        documents: list[LoadedDocument] = []
        while True:
            event = get()
            if type(event) is StreamEndEvent:
                return documents
            if type(event) is not DocumentStartEvent:
                return None
            data = _plain_document(get, limits)
            if data is _FALLBACK:
                return None
            documents.append(LoadedDocument(len(documents) + 1, data))
    except Exception:   # a syntax error, a reader error...: the full loader reports it precisely
        return None
    finally:
        parser.dispose()


def _plain_document(get: Any, limits: Limits) -> Any:
    """One document's value from its events up to DocumentEndEvent, or _FALLBACK."""
    nodes = chars = 0
    max_depth, max_nodes, max_chars = limits.max_depth, limits.max_nodes, limits.max_expanded_chars
    stack: list[list] = []       # [container, pending key or _NO_KEY (lists: unused), keys seen (tag, value)]
    root: Any = _FALLBACK
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                return _FALLBACK
            value = event.value
            nodes += 1
            chars += len(value)
            if event.implicit[0]:
                tag = _resolve_plain(value)
                item = value if tag == _STR else _CONSTRUCT_PLAIN[tag](value) if tag in _CONSTRUCT_PLAIN \
                    else _FALLBACK
                if item is _FALLBACK:   # `<<` (a merge key) or another tag the full loader must handle
                    return _FALLBACK
            else:
                tag, item = _STR, value
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                return _FALLBACK
            nodes += 1
            tag, item = None, ({} if kind is MappingStartEvent else [])
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
            continue
        elif kind is DocumentEndEvent:
            return root
        else:   # an alias, or an event out of place
            return _FALLBACK
        if nodes > max_nodes or chars > max_chars:
            return _FALLBACK
        if not stack:
            root = item
        else:
            frame = stack[-1]
            container = frame[0]
            if type(container) is list:
                container.append(item)
            elif frame[1] is _NO_KEY:   # `item` is a key
                if tag is None:         # a mapping or list as a key
                    return _FALLBACK
                token = (tag, value)
                if token in frame[2]:   # a duplicate key: refused, with its line, by the full loader
                    return _FALLBACK
                frame[2].add(token)
                frame[1] = item
                continue
            else:
                container[frame[1]] = item
                frame[1] = _NO_KEY
        if tag is None:
            stack.append([item, _NO_KEY, set()])
            if len(stack) > max_depth:
                return _FALLBACK


class YamlProblem(Exception):
    """A single-document YAML text (a `$yaml` substitution) that cannot be loaded."""


def load_single(text: str, limits: Limits) -> Any:
    """The one document of `text` (None when empty), under the same limits as descriptors."""
    result: Any = None
    count = 0
    for item in load_documents(text, limits):
        if isinstance(item, LoadFailure):
            raise YamlProblem(item.reason)
        count += 1
        if count > 1:
            raise YamlProblem("expected a single YAML document but found several")
        result = item.data
    return result
