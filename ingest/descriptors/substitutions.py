"""`$text`, `$json` and `$yaml` placeholders, resolved against local files only.

Backstage replaces an object whose only key is one of these with the referenced content, relative to the
descriptor file. Here the referenced file must stay inside the read root (checked after resolving
symlinks), remote URLs are refused, and every read goes through the same size and YAML limits as
descriptors, with a per-document budget so one document cannot pull in the same big file a thousand times.
Like Backstage, a placeholder whose value is not a string is left alone, and substituted content is not
searched for further placeholders.

A document read from a URL (a URL location) resolves placeholders against its own URL instead: relative
paths and absolute URLs both go through the caller's `Remote` (the integrations' URL readers, which refuse
every host not configured), under the same size budget.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from .bundling import BundleError, bundle
from .files import FileProblem, decode_utf8, read_bytes
from .limits import Limits
from .model import Problem
from .paths import is_url, json_path, url_reason
from .yaml_loader import YamlProblem, load_single
from urllib.parse import urljoin

PLACEHOLDERS = ("$text", "$json", "$yaml", "$openapi", "$asyncapi")
BUNDLING = ("$openapi", "$asyncapi")   # Backstage's OpenAPI/AsyncAPI placeholders: external $refs inlined


@dataclass(frozen=True)
class Remote:
    """How a document read from a URL reads what its placeholders name.

    `fetch(url)` returns the text (raising any exception whose message is the user-facing reason);
    `resolve(base, target)` makes a target absolute against the document's URL.
    """

    url: str
    fetch: Callable[[str], str]
    resolve: Callable[[str, str], str]


class _Failed(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.reason)
        self.problem = problem


class _Substituter:
    """One document's substitution pass: walks a copy of the entity, tracking the JSON path and budget."""

    def __init__(self, base_dir: Path, root: Path, limits: Limits, remote: Remote | None = None,
                 fetch_url: Callable[[str], str] | None = None) -> None:
        self.remote = remote
        self.fetch_url = fetch_url
        self.base_dir = base_dir
        self.root = root
        self.limits = limits
        self.budget = limits.max_substitution_bytes
        self.problems: list[Problem] = []

    def walk(self, value: Any, path: list[str | int]) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                key, arg = next(iter(value.items()))
                if key in PLACEHOLDERS and isinstance(arg, str):
                    try:
                        return self.resolve(key, arg, path)
                    except _Failed as failed:
                        self.problems.append(failed.problem)
                        return None
            return {k: self.walk(v, [*path, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, [*path, i]) for i, v in enumerate(value)]
        return value

    def fail(self, path: list[str | int], reason: str) -> _Failed:
        return _Failed(Problem(json_path(path) or None, reason))

    def locate(self, key: str, arg: str, path: list[str | int], base_dir: Path | None = None) -> Path:
        """The resolved file a placeholder names, refusing URLs and anything outside the root."""
        if is_url(arg):
            raise self.fail(path, url_reason(arg, f"{key} substitutions"))
        if not arg.strip():
            raise self.fail(path, f"{key} needs a file path, got an empty string")
        lexical = Path(os.path.normpath((base_dir or self.base_dir) / arg))
        try:
            lexical.relative_to(self.root)
        except ValueError:
            raise self.fail(path, f"{key} path '{arg}' points outside the catalog root") from None
        try:
            resolved = lexical.resolve(strict=False)
            resolved.relative_to(self.root)
        except (ValueError, OSError, RuntimeError):
            raise self.fail(
                path, f"{key} path '{arg}' resolves (through a symlink) outside the catalog root"
            ) from None
        if not resolved.exists():
            raise self.fail(path, f"{key} file '{arg}' does not exist")
        return resolved

    def fetch_remote(self, key: str, arg: str, path: list[str | int]) -> bytes:
        """The bytes a placeholder of a document read from a URL names (through the URL readers)."""
        if not arg.strip():
            raise self.fail(path, f"{key} needs a URL or a path relative to this file, got an empty string")
        if self.budget <= 0:   # asked before fetching: a spent budget costs no more requests
            raise self.fail(path, f"{key} '{arg}' not read: substitutions in this document exceed "
                                  f"{self.limits.max_substitution_bytes:,} bytes")
        try:
            if self.remote is None:   # a local file's placeholder naming a URL
                assert self.fetch_url is not None
                return self.fetch_url(arg.strip()).encode()
            url = self.remote.resolve(self.remote.url, arg.strip())
            return self.remote.fetch(url).encode()
        except Exception as exc:   # the reader's message is the reason (refused, missing, too large...)
            raise self.fail(path, f"{key} '{arg}' cannot be used: {exc}") from None

    def _ident(self, key: str, ref: str, path: list[str | int], base: tuple[str, Any] | None) -> tuple[str, Any]:
        """Where `ref` is, relative to `base` (None: the descriptor): ("url", URL) or ("file", resolved Path)."""
        ref = ref.strip()
        web = ref.lower().startswith(("https://", "http://"))
        if base is not None and base[0] == "url":
            join = self.remote.resolve if self.remote is not None else _join_url
            try:
                return "url", join(base[1], ref)
            except Exception as exc:
                raise self.fail(path, f"{key}: '{ref}' is not a URL: {exc}") from None
        if base is None and self.remote is not None:
            return "url", self.remote.resolve(self.remote.url, ref)
        if web and self.fetch_url is not None:
            return "url", ref
        return "file", self.locate(key, ref, path, base_dir=base[1].parent if base else None)

    def _load(self, key: str, arg: str, path: list[str | int], ident: tuple[str, Any]) -> Any:
        """One document of a bundle, read (charged to the budget) and parsed."""
        if self.budget <= 0:
            raise self.fail(path, f"{key} '{arg}' not read: substitutions in this document exceed "
                                  f"{self.limits.max_substitution_bytes:,} bytes")
        kind, where = ident
        try:
            if kind == "url":
                fetch = self.remote.fetch if self.remote is not None else self.fetch_url
                assert fetch is not None
                data = fetch(where).encode()
            else:
                data = read_bytes(where, self.limits)
        except FileProblem as exc:
            raise self.fail(path, f"{key} '{arg}': {exc}") from None
        except Exception as exc:   # the URL reader's reason (refused, missing, too large...)
            raise self.fail(path, f"{key} '{arg}': {exc}") from None
        if len(data) > self.budget:
            self.budget = 0
            raise self.fail(path, f"{key} '{arg}': substitutions in this document exceed "
                                  f"{self.limits.max_substitution_bytes:,} bytes")
        self.budget -= len(data)
        try:
            return _plain(load_single(decode_utf8(data), self.limits))
        except (YamlProblem, FileProblem) as exc:
            shown = where if kind == "url" else os.path.basename(str(where))
            raise self.fail(path, f"{key} '{arg}': {shown} cannot be loaded: {exc}") from None

    def bundled(self, key: str, arg: str, path: list[str | int]) -> str:
        """`$openapi` / `$asyncapi`: the document with its external `$ref`s inlined, as YAML text."""
        if not arg.strip():
            raise self.fail(path, f"{key} needs a file path or URL, got an empty string")
        try:
            document = bundle(self._ident(key, arg, path, None),
                              load=lambda ident: self._load(key, arg, path, ident),   # type: ignore[arg-type]
                              join=lambda base, ref: self._ident(key, ref, path, base))  # type: ignore[arg-type]
        except BundleError as exc:
            raise self.fail(path, f"{key} '{arg}' cannot be bundled: {exc}") from None
        except RecursionError:
            raise self.fail(path, f"{key} '{arg}' is nested too deeply") from None
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)

    def resolve(self, key: str, arg: str, path: list[str | int]) -> Any:
        if key in BUNDLING:
            return self.bundled(key, arg, path)
        try:
            if self.remote is not None:
                data = self.fetch_remote(key, arg, path)
            elif self.fetch_url is not None and arg.strip().lower().startswith(("https://", "http://")):
                data = self.fetch_remote(key, arg, path)
            else:
                data = read_bytes(self.locate(key, arg, path), self.limits)
            if len(data) > self.budget:
                self.budget = 0   # spent: later placeholders of this document are refused without reading
                raise FileProblem(
                    f"substitutions in this document exceed {self.limits.max_substitution_bytes:,} bytes")
            self.budget -= len(data)
            text = decode_utf8(data)
        except FileProblem as exc:
            raise self.fail(path, f"{key} file '{arg}' cannot be used: {exc}") from None
        if key == "$text":
            return text
        if key == "$json":
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise self.fail(
                    path, f"$json file '{arg}' is not valid JSON at line {exc.lineno}, "
                          f"column {exc.colno}: {exc.msg}") from None
            except ValueError as exc:   # e.g. an integer longer than Python converts (4300 digits)
                raise self.fail(path, f"$json file '{arg}' cannot be read: {exc}") from None
            except RecursionError:
                raise self.fail(path, f"$json file '{arg}' is nested too deeply") from None
        else:
            try:
                parsed = load_single(text, self.limits)
            except YamlProblem as exc:
                raise self.fail(path, f"$yaml file '{arg}' cannot be loaded: {exc}") from None
        if _depth(parsed, self.limits.max_depth) > self.limits.max_depth:
            raise self.fail(path, f"{key} file '{arg}' nests deeper than {self.limits.max_depth} levels")
        return _plain(parsed)


def _join_url(base: str, ref: str) -> str:
    """A ref relative to a document read by URL (a local file's `$openapi: https://...`)."""
    return urljoin(base, ref)


def _depth(value: Any, cap: int, level: int = 0) -> int:
    """Nesting depth of a JSON-like value, stopping as soon as it passes `cap`."""
    if level > cap:
        return level
    if isinstance(value, dict):
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return level
    return max((_depth(v, cap, level + 1) for v in children), default=level + 1)


def _plain(value: Any) -> Any:
    """An unshared copy whose mapping keys are strings (JSON's rule; `200:` becomes "200")."""
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return json.dumps(key)


def apply_substitutions(
    entity: dict, *, base_dir: Path, root: Path, limits: Limits, remote: Remote | None = None,
    fetch_url: Callable[[str], str] | None = None,
) -> tuple[dict, list[Problem]]:
    """A copy of `entity` with placeholders replaced, and the problems of those that failed.

    `base_dir` is the (resolved) directory of the descriptor file; `root` the resolved read root; `remote`
    (a document read from a URL) replaces both; `fetch_url` (a local file) reads placeholders that name an
    http(s) URL (else they are refused).
    """
    sub = _Substituter(base_dir, root, limits, remote, fetch_url)
    result = sub.walk(entity, [])
    return result, sub.problems
