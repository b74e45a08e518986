"""The plugin API: everything a plugin (built-in or a third-party package) may register with Trellis.

A plugin is a Python package exposing an entry point in the group `trellis.plugins`; the entry point is a
callable `register(registry: Registry) -> None`. Built-in plugins (plugins/builtin/...) are declared in
Trellis' own pyproject.toml the same way, so they use exactly this API and nothing more.

Providers pull metadata from somewhere (a Git host, a cloud, a CI system) into the graph. A provider's
`sync(ctx)` follows get -> transform -> load -> cleanup:
- get: call the remote API (through ctx.secret for credentials; never log them);
- transform: pure functions from API payloads to Backstage-shaped entity dicts (and/or runtime-fact records);
- load + cleanup of entities: `ctx.ingest(...)`, which validates, writes, removes what the source no longer
  reports (with the removal guard), and records the run;
- runtime facts (builds, deployments, repository facts): `ctx.facts` writers inside `ctx.facts_run(...)`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Protocol

from plugins.errors import RetryableError  # noqa: F401 -- part of the plugin API

# Re-exports for the search-engine plugins (built-in opensearch, third-party engines): the query and result
# types, the documents to index and the relevance helpers every engine shares, and the reader's visibility.
# The door may import graph/; a plugin imports these from here, never from graph/ itself.
from graph.search import DOCPAGE_FIELDS, ENTITY_FIELDS, FACET_TOP, FACETS  # noqa: F401
from graph.search import SearchEngine, SearchError, SearchHit, SearchQuery, SearchResult  # noqa: F401
from graph.search import SearchUnavailable, doc_page_documents, entity_documents, exact_forms  # noqa: F401
from graph.search import highlight, index_is_stale, mark_index_stale, query_terms, query_words  # noqa: F401
from graph.search import source_refs  # noqa: F401
from graph.visibility import EVERYTHING, Visibility  # noqa: F401
from markupsafe import Markup, escape  # noqa: F401  (tabs, cards and pages return HTML: escape what you did not write)

if TYPE_CHECKING:
    from graph.driver import Graph

ENTRY_POINT_GROUP = "trellis.plugins"

Progress = Callable[[str, int, int], None]


class MissingSecret(LookupError):
    """A provider asked for a secret that is set neither as an environment variable nor as a file."""


class PluginError(LookupError):
    """Asked for a provider nobody registered, or a plugin registered something invalid."""


_SECRET_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_revealed: set[str] = set()   # values handed out by secret() in this process, masked by redact()


def redact(text: str | None) -> str | None:
    """`text` with every secret this process has read replaced by `***` (run errors, logs)."""
    if not text:
        return text
    for value in sorted(_revealed, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def _reveal(value: str) -> str:
    if len(value) >= 4:   # masking a 1-3 character "secret" would shred every message
        _revealed.add(value)
    return value


def secret_env_name(name: str) -> str:
    """`github-token` -> `TRELLIS_SECRET_GITHUB_TOKEN` (dashes and dots become underscores)."""
    env = "TRELLIS_SECRET_" + re.sub(r"[-.]", "_", name).upper()
    if not _SECRET_NAME.match(env):
        raise MissingSecret(f"invalid secret name {name!r}: use letters, digits, '-', '_' or '.'")
    return env


def secret(name: str) -> str:
    """A secret from `TRELLIS_SECRET_<NAME>`, else from the file named by `TRELLIS_SECRET_<NAME>_FILE`.

    Only these two places: secrets never come from source options (which are stored and shown), and the
    error names the variables to set, never a value.
    """
    env = secret_env_name(name)
    value = os.environ.get(env)
    if value:
        return _reveal(value)
    file = os.environ.get(env + "_FILE")
    if file:
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MissingSecret(f"secret {name!r}: cannot read the file named by {env}_FILE ({exc.strerror})") from None
        if value:
            return _reveal(value)
        raise MissingSecret(f"secret {name!r}: the file named by {env}_FILE is empty")
    raise MissingSecret(f"secret {name!r} is not set: set {env} or {env}_FILE")


# ============================================================================ Sync context and services
#
# What a provider's `sync(ctx)` reaches the core through. `ingest` BUILDS the context (ingest.context) and
# supplies `ctx.services`, its implementation of `SyncServices`; this module only defines the shapes, so a
# plugin never imports ingest. Types both sides share (IngestResult, FactsResult, FileDocuments, RepoRead,
# Endpoint) are defined here and ingest imports them from here.

MANAGED_BY_LOCATION = "backstage.io/managed-by-location"


class OptionsError(ValueError):
    """A source's options are missing or wrong (a configuration error, not retried)."""


class IngestError(RuntimeError):
    """The location cannot be ingested at all (nothing was changed). Raised by ingest and by providers."""


@dataclass
class IngestResult:
    """What one ingest of entities did (a location, or the descriptors a provider produced)."""

    source: str
    target: str
    run: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    files: int = 0
    reused_files: int = 0     # files skipped because they and what they produced are unchanged
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.conflicts

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class FactsResult:
    """What a runtime-fact run (CI builds, Kubernetes workloads) did: its own counts, not an ingest's.

    Recorded as the same kind of run (`ingest.runs`); the runs API and pages show `created` as added,
    `seen_again` as unchanged, `removed` as removed and `read` as files."""

    source: str
    target: str
    run: str
    created: int = 0          # fact nodes created
    seen_again: int = 0       # facts reported again, unchanged (not rewritten)
    removed: int = 0          # facts or links cleaned up
    read: int = 0             # projects, jobs or clusters read
    rejected: list[dict] = field(default_factory=list)   # {"file", "document", "ref", "field", "reason"}
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.rejected

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class FileDocuments:
    """The documents of one remote descriptor file, and what could not be read (document None = the file)."""

    documents: list[tuple[int, dict]] = field(default_factory=list)   # (1-based index, entity)
    problems: list[tuple[int | None, str]] = field(default_factory=list)


@dataclass
class RepoRead:
    """What one repository declared (`SyncContext.read_repository`): entities per file path, and problems.

    Each problem is {"path", "document", "reason", "keep"}: `keep` means the file could not be read, so the
    entities it held before must stay (an unreadable file removes nothing).
    """

    entities: list[tuple[str, dict]] = field(default_factory=list)   # (path, entity)
    problems: list[dict] = field(default_factory=list)
    files: int = 0


@dataclass
class Fetched:
    """What a Git-host provider's get step produced for one run (`SyncContext.ingest_fetched`)."""

    entities: list[tuple[str, dict]] = field(default_factory=list)   # (origin, descriptor) of repository files
    org: list[tuple[str, dict]] = field(default_factory=list)        # teams/groups and members from the host's
                                                                     # own API: the only Group/User source
    problems: list[dict] = field(default_factory=list)   # {"origin", "document", "reason", "keep"}: keep = the
                                                         # file was not read, its entities must stay
    repos: int = 0                                                   # repositories/projects listed
    descriptors: int = 0                                             # descriptor files found
    stats: Any = None                                                # plugins.http.HttpStats of the run


@dataclass(frozen=True)
class Endpoint:
    """A source's API base URL on a configured integration, and the secret name its token comes from."""

    api_url: str
    secret_name: str | None


def annotate(entity: dict, annotations: dict[str, str]) -> dict:
    """Add annotations the entity does not set itself (the descriptor's own values win)."""
    metadata = entity.get("metadata")
    if not isinstance(metadata, dict):
        return entity   # invalid envelope: validation reports it
    existing = metadata.get("annotations")
    if existing is None:
        existing = metadata["annotations"] = {}
    if isinstance(existing, dict):
        for key, value in annotations.items():
            existing.setdefault(key, value)
    return entity


FactsBody = Callable[[FactsResult, Progress], object]


class SyncServices(Protocol):
    """What ingest supplies to a run (ingest.context.IngestServices). Plugins call the SyncContext methods,
    which delegate here; nothing else of the core is reachable from a plugin."""

    def integrations(self, ctx: "SyncContext") -> Any: ...
    def removal_guard(self, ctx: "SyncContext") -> Any: ...
    def kind_rules(self, ctx: "SyncContext") -> Any: ...
    def org_rules(self, ctx: "SyncContext") -> Any: ...
    def ingest(self, ctx: "SyncContext", entities: Iterable[tuple], *, target: str, unavailable: Iterable[str],
               problems: list[dict]) -> IngestResult: ...
    def ingest_location(self, ctx: "SyncContext", target: str, *, patterns: list[str] | None) -> IngestResult: ...
    def facts_run(self, ctx: "SyncContext", target: str, body: FactsBody) -> FactsResult: ...
    def check_url(self, ctx: "SyncContext", url: str, what: str) -> None: ...
    def endpoint(self, ctx: "SyncContext", provider: str, default_secret: str | None) -> Endpoint: ...
    def etag_cache(self, namespace: str) -> Any: ...
    def read_descriptor_file(self, payload: Any) -> FileDocuments: ...
    def read_repository(self, first: str, get: Callable[[str], Any],
                        describe: Callable[[str, Any], FileDocuments]) -> RepoRead: ...
    def is_git_url(self, target: str) -> bool: ...
    def is_url_location(self, ctx: "SyncContext", target: str) -> bool: ...
    def location_key(self, target: str) -> str: ...
    def checkout(self, ctx: "SyncContext", target: str) -> Path: ...


@dataclass
class SyncContext:
    """What one provider run gets. Options come from the source's configuration and hold no secrets.

    Built by ingest (ingest.context.sync_context), which supplies `services`."""

    graph: "Graph"
    source: str                      # the configured source name, e.g. "github-acme"
    options: dict[str, Any]
    run_id: str
    trigger: str = "manual"          # "schedule" | "manual" | "webhook"
    force: bool = False              # let the removal guard through
    secret: Callable[[str], str] = field(default=secret)
    progress: Progress = field(default=lambda stage, done, total: None)
    max_removal_share: float = 0.5   # the removal guard of this source (config `guard:`)
    min_removal_count: int = 10
    base_dir: str | None = None      # relative paths in options are relative to this (the config file's dir)
    kinds: Any = "default"           # the source's `kinds:` (ingest.kinds.parse_kinds): "default", None = any,
                                     # or lower-case kinds its repository files may declare
    # The outbound allow-list (ingest.integrations.Integrations): the hosts this source may contact and the
    # secret each may use. None: the integrations of $TRELLIS_CONFIG.
    integrations: Any = None
    services: SyncServices | None = field(default=None, repr=False)

    def _core(self) -> SyncServices:
        if self.services is None:
            raise PluginError("this SyncContext has no services: build it with ingest.context.sync_context")
        return self.services

    def outbound(self) -> Any:
        """This run's integrations (`integrations`, else those of $TRELLIS_CONFIG)."""
        if self.integrations is None:
            self.integrations = self._core().integrations(self)
        return self.integrations

    def removal_guard(self) -> Any:
        """The source's removal guard (forced when the run was triggered with --force)."""
        return self._core().removal_guard(self)

    def kind_rules(self) -> Any:
        """The kinds this source's files may declare (the source's `kinds:` setting)."""
        return self._core().kind_rules(self)

    def org_rules(self) -> Any:
        """The kinds a Git host's own organisation data may be (groups and users, plus the file kinds)."""
        return self._core().org_rules(self)

    def ingest(self, entities: Iterable[tuple], *, target: str, unavailable: Iterable[str] = (),
               problems: Iterable[dict] = ()) -> IngestResult:
        """Load + cleanup for this run, recorded as its run (this context's source, run id, trigger, guard,
        progress). Items are (origin, entity) checked against the source's kind rules, or (origin, entity,
        rules). `unavailable`: origins that could not be fetched (their entities stay). `problems`: what the
        provider could not read ({"file", "document", "ref", "field", "reason"}), reported in the result and
        the recorded run (which becomes partial)."""
        return self._core().ingest(self, entities, target=target, unavailable=unavailable,
                                   problems=list(problems))

    def ingest_fetched(self, target: str, fetched: Fetched) -> IngestResult:
        """`ingest` for a Git host's get step: repository files under the source's kind rules, the org's own
        teams and members under the org rules; a file that could not be read removes nothing it held and is
        reported in `rejected` of the result and of the recorded run."""
        unavailable = {p["origin"] for p in fetched.problems if p.get("keep", True)}
        org = self.org_rules()
        problems = [{"file": p["origin"], "document": p["document"], "ref": None, "field": None,
                     "reason": p["reason"]} for p in fetched.problems]
        return self.ingest([*fetched.entities, *((origin, entity, org) for origin, entity in fetched.org)],
                           target=target, unavailable=unavailable, problems=problems)

    def ingest_location(self, target: str, *, patterns: list[str] | None = None) -> IngestResult:
        """Ingest a location (a path, a git URL or a file URL on an integration) as this run: what
        `trellis ingest` does, under this source's kind rules, guard and outbound policy."""
        return self._core().ingest_location(self, target, patterns=patterns)

    def facts_run(self, target: str, body: FactsBody) -> FactsResult:
        """Run `body(result, progress)` as this context's recorded runtime-fact run; raises what it raises
        (recorded as failed)."""
        return self._core().facts_run(self, target, body)

    def check_url(self, url: str, *, what: str) -> None:
        """Refuse (OutboundRefused, fails the run) a URL that no configured integration allows."""
        self._core().check_url(self, url, what)

    def endpoint(self, provider: str, default_secret: str | None) -> Endpoint:
        """The source's API URL (options `host`/`api_url`/`url`) on a configured integration, and its secret
        name (the option, else the integration's, else `default_secret`)."""
        return self._core().endpoint(self, provider, default_secret)

    def etag_cache(self, namespace: str) -> Any:
        """The ETag cache (plugins.http.EtagCache) of one API endpoint + credential (`namespace`)."""
        return self._core().etag_cache(namespace)

    def read_descriptor_file(self, payload: Any) -> FileDocuments:
        """A contents-API answer (`{"encoding": "base64", "content": ...}`) decoded and split into documents
        with the same size limit and bounded YAML loader as files on disk."""
        return self._core().read_descriptor_file(payload)

    def read_repository(self, first: str, get: Callable[[str], Any],
                        describe: Callable[[str, Any], FileDocuments]) -> RepoRead:
        """Read `first` and every file its Locations name inside the same repository; `get(path)` returns an
        API answer or None (404), `describe(path, answer)` its documents."""
        return self._core().read_repository(first, get, describe)

    def is_git_url(self, target: str) -> bool:
        return self._core().is_git_url(target)

    def is_url_location(self, target: str) -> bool:
        """Whether `target` is one file read by URL through an integration's API (no clone)."""
        return self._core().is_url_location(self, target)

    def location_key(self, target: str) -> str:
        """The key that owns a location's entities (`url:<git url>` or `file:<absolute path>`)."""
        return self._core().location_key(target)

    def checkout(self, target: str) -> Path:
        """A local clone of a git URL (through the outbound policy), cached between runs."""
        return self._core().checkout(self, target)

    @property
    def facts(self) -> "FactsWriters":
        """Writers for runtime facts (builds, workloads, repository facts) of this run's graph."""
        return FactsWriters(self.graph)


class Provider(ABC):
    """One kind of source. Instances are stateless; everything per run comes in the SyncContext."""

    name: ClassVar[str]              # what a source's `provider:` setting names, e.g. "github"

    @abstractmethod
    def sync(self, ctx: SyncContext) -> "IngestResult | FactsResult":
        """Run get -> transform -> load -> cleanup for one source; raise on a failure (nothing deleted)."""


# ============================================================================ Software Templates: actions
#
# A scaffolder action is one `action:` of a template step (`fetch:template`, `publish:github`, ...). Built-in
# actions live in plugins/builtin/scaffolder and register exactly like a third-party plugin's:
#
#     def register(registry):
#         registry.add_action(TemplateAction(id="acme:hello", handler=hello, description="...",
#                                            input_schema={...}, output_schema={...}, supports_dry_run=True))
#
# The handler gets an ActionContext: the step's rendered input, the task's workspace (reach files only through
# `ctx.resolve()`: it refuses absolute paths, `..` and symbolic links), a logger whose lines are masked, the
# task's secrets, the user, the catalog, integration credentials, git and HTTP helpers that enforce the
# outbound allow-list, a cancellation signal and the dry-run flag. Actions import `plugins.api` and nothing
# else of Trellis.


class ActionError(RuntimeError):
    """An action failed; the message is shown to the template's user (secrets are masked)."""


class CancelledError(ActionError):
    """The task was cancelled while the action was running."""


@dataclass(frozen=True)
class TemplateAction:
    """One scaffolder action: what a template step's `action:` names."""

    id: str                                           # e.g. "fetch:template", "acme:notify"
    handler: Callable[["ActionContext"], None]
    description: str = ""
    input_schema: dict | None = None                  # JSON Schema the rendered input must satisfy
    output_schema: dict | None = None                 # documents ctx.output(); dry runs use its examples
    permission: str | None = None                     # a policy action the task's initiator must hold
                                                      # ("ingest" to register locations); None: running is enough
    supports_dry_run: bool = False                    # False: a dry run skips the step (example output)
    examples: tuple[dict, ...] = ()


@dataclass(frozen=True)
class ActionIntegration:
    """An integration (allow-listed host) as actions see it: where its API is and its token, if any."""

    type: str                  # "github" | "gitlab"
    host: str
    api_base_url: str
    token: str | None


class ActionLogger:
    """Lines go to the task's log (masked); `info`, `warning`, `error`."""

    def __init__(self, emit: Callable[[str, str], None]) -> None:
        self._emit = emit

    def info(self, message: str) -> None:
        self._emit("info", str(message))

    def warning(self, message: str) -> None:
        self._emit("warning", str(message))

    warn = warning

    def error(self, message: str) -> None:
        self._emit("error", str(message))


@dataclass
class ActionContext:
    """What an action handler gets for one run of one step (one iteration of `each`)."""

    input: dict[str, Any]
    workspace_path: Path
    logger: ActionLogger
    secrets: dict[str, str]                 # the task's secrets (empty in dry runs)
    user: dict[str, Any]                    # {"ref": "user:default/x" | None, "entity": {...} | None}
    task_id: str
    step: dict[str, Any]                    # {"id", "name", "action"}
    template_info: dict[str, Any]           # {"entityRef", "baseUrl"}
    is_dry_run: bool = False
    each: dict[str, Any] | None = None      # {"key", "value"} inside `each`
    signal: Any = None                      # threading.Event-like: is_set(), wait(seconds)
    catalog: Any = None                     # register(target, catalog_info_path=None, optional=False) -> [refs],
                                            # get_entity(ref), get_entities(refs), preview(entity) -> dict
    limits: dict[str, Any] = field(default_factory=dict)   # operator settings actions honour ("max_wait")
    _output: Callable[[str, Any], None] = field(default=lambda name, value: None, repr=False)
    _services: Any = field(default=None, repr=False)   # the runner's implementation of the helpers below

    def output(self, name: str, value: Any) -> None:
        """Set one output of this step (`${{ steps.<id>.output.<name> }}`); inside `each`, outputs are lists."""
        self._output(name, value)

    @property
    def cancelled(self) -> bool:
        return bool(self.signal is not None and self.signal.is_set())

    def check_cancelled(self) -> None:
        """Raise CancelledError when the task was cancelled (call it between long operations)."""
        if self.cancelled:
            raise CancelledError(f"step {self.step.get('id')} was cancelled")

    def resolve(self, relative: str | None, *, under: Path | None = None) -> Path:
        """A path inside the workspace (or `under`, itself inside it): refuses absolute paths, `..` escapes and
        any symbolic link on the way. Use it for every path an input names."""
        return self._services.resolve(relative, under=under)

    def create_temporary_directory(self) -> Path:
        """A scratch folder outside the workspace, removed after the step."""
        return self._services.create_temporary_directory()

    def fetch_contents(self, url: str, dest: Path) -> None:
        """Copy the directory `url` names (relative to the template's location, or a URL of an allowed
        integration) into `dest` (from `resolve`). Symbolic links, `.git` folders and oversize trees fail."""
        self._services.fetch(url, dest, file=False)

    def fetch_file(self, url: str, dest: Path) -> None:
        """Like fetch_contents for one file."""
        self._services.fetch(url, dest, file=True)

    def templater(self, *, cookiecutter_compat: bool = False, trim_blocks: bool = False,
                  lstrip_blocks: bool = False) -> Any:
        """The sandboxed renderer skeleton files are rendered with: `.render(text, context) -> str`, and
        `.render_path(name, context) -> str` for file and folder names."""
        return self._services.templater(cookiecutter_compat=cookiecutter_compat, trim_blocks=trim_blocks,
                                        lstrip_blocks=lstrip_blocks)

    def integration_for(self, url: str) -> ActionIntegration | None:
        """The allow-listed integration for `url` (with its token), or None: the URL may not be reached."""
        return self._services.integration_for(url)

    def http(self, method: str, url: str, *, json_body: Any = None, token: str | None = None,
             auth_scheme: str = "Bearer", params: dict | None = None) -> tuple[int, Any]:
        """A JSON request to an allow-listed URL only (ActionError otherwise); returns (status, parsed body).
        The token (the integration's unless given) goes only to its own integration's hosts."""
        return self._services.http(method, url, json_body=json_body, token=token, auth_scheme=auth_scheme,
                                   params=params)

    def git(self, args: list[str], *, cwd: Path | None = None, git_dir: Path | None = None,
            remote_url: str | None = None, username: str | None = None, password: str | None = None) -> str:
        """Run git with no prompts, no hooks, no user or system config, ordinary transports only, a time limit;
        credentials (for `remote_url`, which must be allowed) travel in a header, never in argv or the URL."""
        return self._services.git(args, cwd=cwd, git_dir=git_dir, remote_url=remote_url, username=username,
                                  password=password)

    def git_remote(self, url: str) -> dict[str, Any]:
        """Whether a plain git remote may be pushed to: {"url", "local_path" (a bare repository under the
        configured roots, created if missing) or None, "integration": ActionIntegration | None}."""
        return self._services.git_remote(url)

    def allowed_action(self, permission: str) -> bool:
        """Whether the task's initiator holds a policy action ("read", "ingest", "write", "admin")."""
        return self._services.allowed(permission)


# ============================================================================ Door services re-exported
#
# Door-internal modules a provider uses through this module only: the HTTP client (ETags, rate limits,
# retries, same-origin credentials) and the runtime-facts writers. Imported last: they import the errors
# above.

from plugins.facts import FactsWriters  # noqa: E402, F401 -- re-export; plugins.facts needs nothing from here
from plugins.http import (  # noqa: E402, F401 -- re-export; plugins.http imports plugins.errors, not this module
    ApiClient, BadCredentials, EtagCache, HttpStats, ProviderError, RateLimited, TooLarge, Unavailable,
    token_fingerprint,
)

# ============================================================================ The door: version, permissions
#
# Owned by the registration side (issue 14). Everything a plugin registers besides providers and actions is
# declared here: what it is, which entities it applies to, and the permission a reader needs to see or call
# it. The app enforces the permission before it calls the plugin, and isolates a plugin that raises.

API_VERSION = "1.0"
"""The plugin API's version, `MAJOR.MINOR`. A plugin declares the version it was built for with
`TRELLIS_API_VERSION = "1.0"` in the module that defines its `register` function. It loads when the majors are
equal and its minor is not newer than this one (a newer minor may use what this Trellis lacks). A plugin that
declares nothing is taken as built for 1.0, the API as it was before it carried a version."""

PERMISSIONS = ("read", "write", "ingest", "run", "admin")
"""What a tab, card, page, webhook or action may declare it needs: the portal's policy actions. Tabs and cards
are checked on the entity shown (a restricted entity's rules apply), pages and webhooks on the portal."""

PUBLIC = "public"
"""For webhooks only: no sign-in, the handler authenticates each delivery itself (e.g. by a signature)."""


def api_incompatibility(declared: Any) -> str | None:
    """Why a plugin built for API `declared` cannot load here, or None when it can."""
    if declared is None:
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)", str(declared).strip()) if isinstance(declared, str) else None
    if match is None:
        return f"TRELLIS_API_VERSION {declared!r} is not a version like '1.0'"
    major, minor = int(match.group(1)), int(match.group(2))
    ours_major, ours_minor = (int(p) for p in API_VERSION.split("."))
    if major != ours_major or minor > ours_minor:
        return (f"built for plugin API {major}.{minor}; this Trellis offers {API_VERSION} "
                f"(a plugin loads for API {ours_major}.0 to {API_VERSION})")
    return None


@dataclass(frozen=True)
class Predicate:
    """Which entities a tab or card applies to; every field given must hold (empty: no condition)."""

    kinds: tuple[str, ...] = ()        # e.g. ("component", "api"); compared without case
    types: tuple[str, ...] = ()        # spec.type values, e.g. ("service", "website"); compared without case
    annotation: str | None = None      # an annotation that must be present and non-empty

    def matches(self, entity: dict) -> bool:
        if self.kinds and str(entity.get("kind") or "").lower() not in {k.lower() for k in self.kinds}:
            return False
        spec = entity.get("spec") if isinstance(entity.get("spec"), dict) else {}
        if self.types and str(spec.get("type") or "").lower() not in {t.lower() for t in self.types}:
            return False
        if self.annotation:
            metadata = entity.get("metadata") if isinstance(entity.get("metadata"), dict) else {}
            annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
            if not annotations.get(self.annotation):
                return False
        return True


@dataclass
class EntityPage:
    """What a tab or card renders from: one entity, as the current reader may see it."""

    graph: "Graph"
    ref: str                                  # e.g. "component:default/billing"
    entity: dict                              # Backstage-shaped, with relations
    args: Any                                 # the page's query string (a read-only mapping; .get, .getlist)
    visibility: Visibility                    # pass it to every graph read: what this reader may see
    can: Callable[[str], bool]                # whether the reader holds a permission on this entity
    services: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def service(self, name: str) -> Callable[..., Any]:
        """A service the portal offers (e.g. "techdocs.tab"); PluginError when this portal has none by that name."""
        try:
            return self.services[name]
        except KeyError:
            raise PluginError(f"the portal offers no service {name!r}") from None


@dataclass
class PageRequest:
    """What a plugin page renders from: the reader's query string and view of the catalog."""

    graph: "Graph"
    args: Any
    visibility: Visibility
    can: Callable[[str], bool]                # whether the reader holds a permission (on the portal)


@dataclass(frozen=True)
class EntityTab:
    """A tab on entity pages (`?tab=<id>`): `render(page) -> HTML` of its panel."""

    id: str                                   # letters, digits and '-'; not one of the portal's own tabs
    title: str
    render: Callable[[EntityPage], str]
    permission: str                           # one of PERMISSIONS, on the entity shown
    when: Predicate = Predicate()
    after: str | None = None                  # the tab it follows ("overview"); None: last


@dataclass(frozen=True)
class OverviewCard:
    """A card on the Overview tab of the entities `when` matches: `render(page) -> HTML` of its body."""

    id: str
    title: str
    render: Callable[[EntityPage], str]
    permission: str
    when: Predicate = Predicate()


@dataclass(frozen=True)
class Page:
    """A page of its own at `/plugins/<id>`, inside the portal's layout: `render(request) -> HTML`."""

    id: str
    title: str
    render: Callable[[PageRequest], str]
    permission: str                           # one of PERMISSIONS, on the portal


class WebhookError(Exception):
    """A delivery the handler refuses: answered with `status` and the JSON error body {code, message}."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class WebhookRequest:
    """One delivery to `POST /api/v1/webhooks/<id>`, with the services a webhook needs from the core."""

    body: bytes                               # the raw body (already capped at max_request_bytes)
    headers: Any                              # case-insensitive mapping
    sources: Callable[[str], list[Any]]       # configured sources of a provider: .name, .provider, .options
                                              # (WebhookError 503 when the configuration cannot be read)
    reingest: Callable[..., dict]             # reingest(source, options={...}): a run of that source, queued
                                              # (options ignored) or, without a job broker, run now with them

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Webhook:
    """A route `POST /api/v1/webhooks/<id>`: `handle(request) -> (json_body, status)`.

    `permission`: PUBLIC (no sign-in; the handler must authenticate each delivery, e.g. by a signature), or a
    policy action the caller's API token must hold (a session cookie is not accepted: no CSRF through it)."""

    id: str
    handle: Callable[[WebhookRequest], tuple[dict, int]]
    permission: str


@dataclass
class AfterIngest:
    """What an after-ingest hook gets, once a run is recorded: the run and the services hooks use."""

    graph: "Graph"
    result: "IngestResult"
    search_engine_name: str                   # the configured engine (TRELLIS_SEARCH_ENGINE)
    search_engine: Callable[[], SearchEngine]  # that engine over `graph`, built once per process
    queue_task: Callable[..., bool]           # queue_task(name, args, queue=...) -> False: no job framework


class PluginRegistry(Protocol):
    """What `register(registry)` gets (plugins.registry.Registry): one `add_*` per extension point."""

    def add_provider(self, provider: Provider) -> None: ...
    def add_search_engine(self, name: str, factory: Callable[["Graph"], SearchEngine]) -> None: ...
    def add_after_ingest(self, hook: Callable[[AfterIngest], None]) -> None: ...
    def add_action(self, action: TemplateAction) -> None: ...
    def add_tab(self, tab: EntityTab) -> None: ...
    def add_card(self, card: OverviewCard) -> None: ...
    def add_page(self, page: Page) -> None: ...
    def add_webhook(self, webhook: Webhook) -> None: ...
