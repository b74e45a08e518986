"""Portal settings: defaults < the YAML file named by TRELLIS_CONFIG < environment variables < create_app(config).

Why one loader: sign-in, roles, permission rules and catalog rules must be read and checked in one place, at
start, so a misconfigured portal refuses to start with a clear reason instead of running open.

The YAML file (all sections optional):
    env: production | development
    auth: {...}                      # sign-in methods (app/auth/signin.py)
    roles: {"group:default/platform-team": admin, "user:default/alice": editor, "local:ops": admin}
    default_role: viewer             # role of any signed-in person without a grant (null: none)
    guest_role: viewer               # development only: role of visitors who are not signed in
    permissions: {Group: {read: viewer, write: admin}, Template: {run: editor}, ...}   # per kind, minimum role
    catalog_rules: [{allow: [Component, API, ...]}, {allow: [Group, User], target: "/srv/org/*"}]
                                     # what portal-registered locations may define (target: per location)
    trusted_proxy_hops: 1            # reverse proxies in front of the portal that append X-Forwarded-For
                                     # (0: none; the client address for throttling and audit, app/proxy.py)
    location_roots: [/srv/catalogs]  # folders people may register paths from (default none: URLs only)
    max_request_bytes: 26214400      # the largest request body accepted (413 above it, chunked bodies too)
    integrations: {...}              # the hosts this server reads from (ingest.integrations), and `git:`
    walk_node_cap: 10000             # most nodes one graph walk (impact, dependencies, graph) visits
                                     # (env TRELLIS_WALK_NODE_CAP; graph.walk)
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import yaml

from graph.impact import walk_cache_steps
from graph.walk import node_cap
from ingest.integrations import Integrations, IntegrationsError, parse_integrations
from servers.paths import state_dir

REPO_ROOT = Path(__file__).resolve().parents[1]   # the checkout, or site-packages when installed
DEFAULT_MAX_REQUEST_BYTES = 25 * 1024 * 1024   # GitHub caps webhook deliveries at 25 MB
ENVIRONMENTS = ("production", "development")
ROLES = ("viewer", "editor", "admin")

# Backstage's default catalog rule allows Component, API and Location; a portal also lets teams describe
# their resources, systems and domains. Groups and users come from org sources and operators (ingest.kinds);
# templates run with the server's integration credentials, so only allow-listed locations may add them
# (`catalog_rules: [{allow: [Template], target: ...}]`).
DEFAULT_CATALOG_RULES = [{"allow": ["Component", "API", "Resource", "System", "Domain", "Location"]}]
DEFAULT_PERMISSIONS = {
    "Group": {"write": "admin"},
    "User": {"write": "admin"},
    "Location": {"write": "admin"},
}


class ConfigError(RuntimeError):
    """The portal's configuration is unusable; the message says which setting and why."""


def load_settings(overrides: dict | None, *, file_data: dict | None = None, config_file: str | None = None) -> dict:
    """Every TRELLIS_* setting, checked. Raises ConfigError.

    `file_data`: the TRELLIS_CONFIG file already read (app.settings.load reads it once for everything);
    None reads it here."""
    overrides = dict(overrides or {})
    if file_data is None:
        config_file = overrides.get("TRELLIS_CONFIG") or os.environ.get("TRELLIS_CONFIG")
        file_data = read_config_file(config_file) if config_file else {}

    settings: dict = {
        "TRELLIS_ENV": "production",
        "TRELLIS_AUTH": {"local": True},
        "TRELLIS_ROLES": {},
        "TRELLIS_DEFAULT_ROLE": "viewer",
        "TRELLIS_GUEST_ROLE": None,
        "TRELLIS_PERMISSIONS": DEFAULT_PERMISSIONS,
        "TRELLIS_CATALOG_RULES": DEFAULT_CATALOG_RULES,
        "TRELLIS_SECURE_COOKIES": None,     # None: secure in production, not in development (plain http)
        "TRELLIS_TRUSTED_PROXY_HOPS": 0,
        "TRELLIS_LOCATION_ROOTS": [],       # no roots: people may register URLs on integration hosts only
        "TRELLIS_MAX_REQUEST_BYTES": DEFAULT_MAX_REQUEST_BYTES,
        "TRELLIS_WALK_NODE_CAP": None,      # None: graph.walk's own (TRELLIS_WALK_NODE_CAP or its default)
    }
    for key, setting in (("env", "TRELLIS_ENV"), ("auth", "TRELLIS_AUTH"), ("roles", "TRELLIS_ROLES"),
                         ("default_role", "TRELLIS_DEFAULT_ROLE"), ("guest_role", "TRELLIS_GUEST_ROLE"),
                         ("permissions", "TRELLIS_PERMISSIONS"), ("catalog_rules", "TRELLIS_CATALOG_RULES"),
                         ("trusted_proxy_hops", "TRELLIS_TRUSTED_PROXY_HOPS"),
                         ("walk_node_cap", "TRELLIS_WALK_NODE_CAP")):
        if key in file_data:
            settings[setting] = file_data[key]
    base = Path(config_file).resolve().parent if config_file else Path.cwd()
    if "location_roots" in file_data:
        roots = file_data["location_roots"]
        if not isinstance(roots, list) or not all(isinstance(r, str) and r.strip() for r in roots):
            raise ConfigError("location_roots must be a list of folders (relative to the config file's folder)")
        settings["TRELLIS_LOCATION_ROOTS"] = [str(base / r) for r in roots]
    if "max_request_bytes" in file_data:
        settings["TRELLIS_MAX_REQUEST_BYTES"] = file_data["max_request_bytes"]
    for name in ("TRELLIS_ENV", "TRELLIS_GUEST_ROLE", "TRELLIS_DEFAULT_ROLE", "TRELLIS_TRUSTED_PROXY_HOPS",
                 "TRELLIS_MAX_REQUEST_BYTES", "TRELLIS_WALK_NODE_CAP"):
        if os.environ.get(name):
            settings[name] = os.environ[name]
    if os.environ.get("TRELLIS_LOCATION_ROOTS"):
        settings["TRELLIS_LOCATION_ROOTS"] = [r for r in os.environ["TRELLIS_LOCATION_ROOTS"].split(os.pathsep) if r]
    settings.update({k: v for k, v in overrides.items() if k.startswith("TRELLIS_")})
    settings["TRELLIS_INTEGRATIONS"] = _integrations(settings.get("TRELLIS_INTEGRATIONS"), file_data)
    _check(settings)
    settings["MAX_CONTENT_LENGTH"] = settings["TRELLIS_MAX_REQUEST_BYTES"]
    settings["SECRET_KEY"] = overrides.get("SECRET_KEY") or _secret_key(settings["TRELLIS_ENV"])
    return settings


def _integrations(override: object, file_data: dict):
    """The outbound allow-list (ingest.integrations): parsed from the file's `integrations:` and `git:`
    sections, or from a `TRELLIS_INTEGRATIONS` override (the same shape, or an Integrations object)."""
    if isinstance(override, Integrations):
        return override
    data = {"integrations": override, "git": file_data.get("git")} if override is not None else file_data
    try:
        return parse_integrations(data)
    except IntegrationsError as exc:
        raise ConfigError(str(exc)) from None


def read_config_file(path: str) -> dict:
    """The TRELLIS_CONFIG file as a mapping; ConfigError naming the file when it cannot be read or parsed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"TRELLIS_CONFIG={path}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"TRELLIS_CONFIG={path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"TRELLIS_CONFIG={path}: the top level must be a mapping")
    return data


def _role(value: object, setting: str, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if value not in ROLES:
        raise ConfigError(f"{setting}: {value!r} is not a role; use one of {', '.join(ROLES)}")


def _check(s: dict) -> None:
    if s["TRELLIS_ENV"] not in ENVIRONMENTS:
        raise ConfigError(f"TRELLIS_ENV must be production or development, not {s['TRELLIS_ENV']!r}")
    _role(s["TRELLIS_DEFAULT_ROLE"], "default_role")
    _role(s["TRELLIS_GUEST_ROLE"], "guest_role")
    if s["TRELLIS_GUEST_ROLE"] and s["TRELLIS_ENV"] != "development":
        raise ConfigError(
            "guest mode (TRELLIS_GUEST_ROLE / guest_role) lets anyone in without signing in; it is only "
            "allowed with TRELLIS_ENV=development. Remove it, or run in development mode on a trusted machine.")
    roles = s["TRELLIS_ROLES"]
    if not isinstance(roles, dict):
        raise ConfigError("roles must map principals (user:ns/name, group:ns/name, local:username, "
                          "service:name) to roles")
    for principal, role in roles.items():
        if not isinstance(principal, str) or ":" not in principal:
            raise ConfigError(f"roles: {principal!r} is not a principal (user:ns/name, group:ns/name, "
                              "local:username or service:name)")
        _role(role, f"roles[{principal}]", allow_none=False)
    perms = s["TRELLIS_PERMISSIONS"]
    if not isinstance(perms, dict):
        raise ConfigError("permissions must map kinds to {read: role, write: role}")
    for kind, rule in perms.items():
        if not isinstance(rule, dict) or set(rule) - {"read", "write", "run"}:
            raise ConfigError(f"permissions[{kind}] must be a mapping with read, write (and, for Template, run)")
        for action, role in rule.items():
            _role(role, f"permissions[{kind}].{action}", allow_none=False)
    rules = s["TRELLIS_CATALOG_RULES"]
    if not isinstance(rules, list) or not all(
            isinstance(r, dict) and isinstance(r.get("allow"), list) and all(isinstance(k, str) for k in r["allow"])
            and set(r) <= {"allow", "target"} and isinstance(r.get("target", ""), str)
            for r in rules):
        raise ConfigError("catalog_rules must be a list of {allow: [Kind, ...], target: optional glob} entries")
    hops = s["TRELLIS_TRUSTED_PROXY_HOPS"]
    if isinstance(hops, str) and hops.strip().isdigit():
        hops = s["TRELLIS_TRUSTED_PROXY_HOPS"] = int(hops)
    if isinstance(hops, bool) or not isinstance(hops, int) or not 0 <= hops <= 10:
        raise ConfigError(f"trusted_proxy_hops (TRELLIS_TRUSTED_PROXY_HOPS) must be a whole number from 0 to 10 "
                          f"(how many reverse proxies append X-Forwarded-For), not {hops!r}")
    if not isinstance(s["TRELLIS_AUTH"], dict):
        raise ConfigError("auth must be a mapping of sign-in methods")
    size = s["TRELLIS_MAX_REQUEST_BYTES"]
    try:
        s["TRELLIS_MAX_REQUEST_BYTES"] = int(size)
    except (TypeError, ValueError):
        raise ConfigError(f"max_request_bytes (TRELLIS_MAX_REQUEST_BYTES) must be a number of bytes, got "
                          f"{size!r}") from None
    if isinstance(size, bool) or s["TRELLIS_MAX_REQUEST_BYTES"] < 1024:
        raise ConfigError("max_request_bytes (TRELLIS_MAX_REQUEST_BYTES) must be at least 1024 bytes")
    roots = s["TRELLIS_LOCATION_ROOTS"]
    if roots is None:
        s["TRELLIS_LOCATION_ROOTS"] = []
    elif not isinstance(roots, (list, tuple)) or not all(isinstance(r, (str, os.PathLike)) for r in roots):
        raise ConfigError("location_roots (TRELLIS_LOCATION_ROOTS) must be a list of folders")
    if s["TRELLIS_WALK_NODE_CAP"] is not None:
        try:
            s["TRELLIS_WALK_NODE_CAP"] = node_cap(s["TRELLIS_WALK_NODE_CAP"])
        except ValueError as exc:
            raise ConfigError(f"walk_node_cap: {exc}") from None
    try:
        walk_cache_steps()   # read by graph.impact on each walk: a typo stops the portal, not a request
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _secret_key(env: str) -> str:
    """The session signing key: TRELLIS_SECRET_KEY or the file TRELLIS_SECRET_KEY_FILE names.

    Production refuses to start without one (a random per-process key would sign users out on every restart
    and break multi-worker serving). Development keeps a generated key in the state folder (`.trellis/`).
    """
    value = os.environ.get("TRELLIS_SECRET_KEY")
    path = os.environ.get("TRELLIS_SECRET_KEY_FILE")
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"TRELLIS_SECRET_KEY_FILE={path}: cannot read it ({exc.strerror})") from None
    if value:
        if len(value) < 32:
            raise ConfigError("TRELLIS_SECRET_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value
    if env == "production":
        raise ConfigError("TRELLIS_SECRET_KEY (or TRELLIS_SECRET_KEY_FILE) is required in production: it signs "
                          "session cookies. Generate one with `openssl rand -hex 32`.")
    key_file = state_dir() / "secret-key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:   # made earlier, or by another worker just now
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return key_file.read_text(encoding="utf-8").strip()
