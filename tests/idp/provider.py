"""A real OIDC identity provider for the tests: Keycloak, started as a local process.

Why Keycloak: it is a complete, widely deployed OpenID Provider (discovery, JWKS,
authorization-code flow with PKCE, client_secret_basic/post, userinfo, RP-initiated
logout), so the sign-in tests talk to the same kind of server production will. There is
no Docker here, but Keycloak publishes its server distribution to Maven Central as
``org.keycloak:keycloak-quarkus-dist`` (a zip); ``keycloak/pom.xml`` pins the version and
Maven fetches it. Keycloak 26.x needs Java 21+, so it runs on the Temurin 25 JDK (see
:func:`java_home`), independent of the Java 17 that the Neo4j test server uses.

Layout (``.trellis/`` is git-ignored):

* ``<repo>/.trellis/keycloak/keycloak-<version>/`` - the unzipped distribution, shared by
  every instance (override the parent dir with ``TRELLIS_KEYCLOAK_DIR``). Its ``lib/quarkus``
  holds the dev-mode build that ``kc.sh start-dev`` makes once ("augmentation", ~35 s).
* ``<repo>/.trellis/keycloak/template-<hash>/keycloakdb.mv.db`` - an H2 database with the
  ``trellis`` realm (``keycloak/realm-trellis.json``) already imported. Made once per
  (pom, realm JSON) by starting Keycloak with ``--import-realm`` and stopping it; copying it
  into each instance cuts a start from ~30 s (schema creation + import) to ~9 s.
* ``<tmp_dir>/keycloak-home/`` - one instance: ``bin/`` copied (``kc.sh`` derives the home
  dir from its own real path), ``lib``/``conf``/``themes``/``providers`` symlinked to the
  shared distribution, and its own ``data/`` (database, transaction logs) and log file.

Provisioning is serialised with a file lock, so parallel pytest sessions are safe.

Stdlib plus the project's shared file lock: usable from any test, and as a CLI::

    python -m tests.idp.provider provision   # download + build + template, then exit
    python -m tests.idp.provider run         # start one, print its settings, wait for ^C
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from graph.server.local import file_lock, free_port  # shared with the Neo4j provisioning

__all__ = [
    "Provider",
    "NoSuitableJava",
    "ProviderError",
    "User",
    "browser_session",
    "free_port",
    "java_home",
    "keycloak_version",
    "provision",
    "start_provider",
]

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
POM = HERE / "keycloak" / "pom.xml"
REALM_JSON = HERE / "keycloak" / "realm-trellis.json"

#: Shared download/build cache (git-ignored via the ``.trellis/`` rule).
CACHE_DIR = Path(os.environ.get("TRELLIS_KEYCLOAK_DIR") or REPO_ROOT / ".trellis" / "keycloak").resolve()

#: Keycloak 26 needs Java 21+.
MIN_JAVA = 21
DEFAULT_JAVA_HOME = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
#: Small heap: the tests make a handful of logins. Keycloak's own default is 70% of RAM.
HEAP_OPTS = "-Xms64m -Xmx512m"
#: Admin of the ``master`` realm (the template DB was bootstrapped with it).
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password"

START_TIMEOUT = 240.0  # first-ever start also builds (augmentation) and imports: ~70 s on 2 cores
STOP_TIMEOUT = 30.0


class ProviderError(RuntimeError):
    """Provisioning, starting or stopping the test identity provider failed."""


class NoSuitableJava(ProviderError):
    """This machine has no Java 21+ for Keycloak (Debian's packages stop at 17; the Temurin JDK is missing)."""


@dataclass(frozen=True)
class User:
    """A test user of the realm (from ``realm-trellis.json``)."""

    username: str
    password: str
    email: str
    given_name: str
    family_name: str
    groups: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


@dataclass
class Provider:
    """A running OpenID Provider. ``issuer`` is exactly the ``iss`` of its tokens."""

    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str
    users: dict[str, User]
    base_url: str  # http://127.0.0.1:<port>
    realm: str
    admin_username: str
    admin_password: str
    home: Path
    log_path: Path
    kind: str = "keycloak"
    version: str = ""
    startup_seconds: float = 0.0
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def discovery(self) -> dict:
        """The provider's ``.well-known/openid-configuration`` document."""
        with urllib.request.urlopen(self.discovery_url, timeout=10) as resp:
            return json.load(resp)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``STOP_TIMEOUT``). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc)

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- user agent


#: Cookie domains of loopback hosts (http.cookiejar stores dotless "localhost" as "localhost.local").
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "localhost.local", "::1", "[::1]"})


def browser_session():  # -> requests.Session (requests imported lazily: this module is stdlib-only)
    """A ``requests.Session`` that keeps cookies the way a browser does towards the provider.

    Keycloak 26 marks its login cookies (AUTH_SESSION_ID, KC_RESTART, ...) ``Secure;
    SameSite=None`` even over plain http. Chromium and Firefox treat http://127.0.0.1 and
    http://localhost as secure contexts and send them back; Python's cookiejar does not,
    and Keycloak then answers the login-form POST with 400 "Restart login cookie not
    found" (event ``cookie_not_found``). This session's jar drops the ``Secure`` flag of
    cookies set by loopback hosts, so they are sent over http. (A custom CookiePolicy is
    not enough: requests copies cookies into a default-policy jar for every request.)
    Playwright browsers need nothing.
    """
    import requests

    class _LoopbackJar(requests.cookies.RequestsCookieJar):
        def set_cookie(self, cookie, *args, **kwargs):  # noqa: ANN001
            if cookie.secure and cookie.domain.lstrip(".") in LOOPBACK_HOSTS:
                cookie.secure = False
            return super().set_cookie(cookie, *args, **kwargs)

    session = requests.Session()
    session.cookies = _LoopbackJar()
    return session


# --------------------------------------------------------------------------- helpers


def keycloak_version() -> str:
    """Keycloak version pinned in tests/idp/keycloak/pom.xml."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    el = ET.parse(POM).getroot().find("m:properties/m:keycloak.version", ns)
    if el is None or not (el.text or "").strip():
        raise ProviderError(f"no <keycloak.version> property in {POM}")
    return el.text.strip()


def _java_major(home: Path) -> int | None:
    try:
        text = (home / "release").read_text()
    except OSError:
        return None
    m = re.search(r'^JAVA_VERSION="(\d+)', text, re.M)
    return int(m.group(1)) if m and (home / "bin" / "java").exists() else None


def java_home() -> Path:
    """A JDK/JRE able to run Keycloak 26 (Java 21+).

    ``$TRELLIS_KEYCLOAK_JAVA_HOME`` if set; else the Temurin 25 JDK; else ``$JAVA_HOME``
    or the newest ``/usr/lib/jvm/*`` that is Java 21+.
    """
    explicit = os.environ.get("TRELLIS_KEYCLOAK_JAVA_HOME")
    if explicit:
        return Path(explicit)
    candidates = [DEFAULT_JAVA_HOME]
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += sorted(jvm.iterdir(), key=lambda p: _java_major(p) or 0, reverse=True)
    for cand in candidates:
        major = _java_major(cand)
        if major is not None and major >= MIN_JAVA:
            return cand
    raise NoSuitableJava(
        f"Keycloak {keycloak_version()} needs Java {MIN_JAVA}+; none found "
        "(set TRELLIS_KEYCLOAK_JAVA_HOME)"
    )


def _sha256(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# --------------------------------------------------------------------------- provisioning


def _dist_dir() -> Path:
    return CACHE_DIR / f"keycloak-{keycloak_version()}"


def _download_and_unzip(dist: Path) -> None:
    version = keycloak_version()
    download = CACHE_DIR / "download"
    zip_path = download / f"keycloak-quarkus-dist-{version}.zip"
    if not zip_path.exists():
        mvn = shutil.which("mvn")
        if not mvn:
            raise ProviderError("Maven (mvn) is needed to fetch Keycloak from Maven Central")
        cmd = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy", f"-DoutputDirectory={download}"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not zip_path.exists():
            raise ProviderError(f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    staging = Path(tempfile.mkdtemp(prefix="unzip-", dir=CACHE_DIR))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                target = zf.extract(info, staging)
                mode = (info.external_attr >> 16) & 0o777
                if mode:  # zipfile drops unix permissions (kc.sh must stay executable)
                    os.chmod(target, mode)
        (top,) = [p for p in staging.iterdir() if p.is_dir()]  # keycloak-<version>/
        for script in (top / "bin").glob("*.sh"):
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        shutil.rmtree(dist, ignore_errors=True)
        top.rename(dist)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    zip_path.unlink()  # Maven's local repository (~/.m2) keeps a copy


def _make_home(dist: Path, home: Path) -> None:
    """Instance home: own bin/ and data/, everything else symlinked to the shared dist."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    # bin/ is copied (kc.sh resolves its own real path to find the home), minus the 16 MB client/
    shutil.copytree(dist / "bin", home / "bin", symlinks=True, ignore=shutil.ignore_patterns("client"))
    if (dist / "bin" / "client").exists():
        (home / "bin" / "client").symlink_to(dist / "bin" / "client", target_is_directory=True)
    for name in ("lib", "conf", "themes", "providers"):
        (home / name).symlink_to(dist / name, target_is_directory=True)
    (home / "data").mkdir()


def _launch(home: Path, port: int, *, import_realm: bool) -> tuple[subprocess.Popen, Path]:
    env = {
        **os.environ,
        "JAVA_HOME": str(java_home()),
        "JAVA_OPTS_KC_HEAP": HEAP_OPTS,
        "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
        "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    for var in ("KC_DB", "KC_DB_URL", "KC_HOSTNAME", "KC_HTTP_PORT", "KC_HTTP_HOST", "DEBUG"):
        env.pop(var, None)  # never inherit a developer's Keycloak settings
    cmd = [
        str(home / "bin" / "kc.sh"),
        "start-dev",
        f"--http-port={port}",
        "--http-host=127.0.0.1",
        # Fixed issuer (http://127.0.0.1:<port>/realms/trellis) whatever Host header is used.
        f"--hostname=http://127.0.0.1:{port}",
    ]
    if import_realm:
        cmd.append("--import-realm")
    log_path = home / "keycloak.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() signals kc.sh and java together
        )
    return proc, log_path


def _wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ProviderError(f"Keycloak exited with {proc.returncode}; log tail:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200 and json.load(resp).get("issuer"):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            _terminate(proc)
            raise ProviderError(f"Keycloak not ready after {timeout:.0f}s ({url}); log tail:\n{_tail(log_path)}")
        time.sleep(0.5)


def _realm() -> dict:
    return json.loads(REALM_JSON.read_text())


def _discovery_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/realms/{_realm()['realm']}/.well-known/openid-configuration"


def provision() -> tuple[Path, Path]:
    """Download, unzip and build Keycloak and make the realm DB template (each once).

    Returns ``(dist_dir, template_db)``. Cold: ~15 s download (169 MB), ~35 s build,
    ~30 s first start with schema creation and realm import. Warm: instant.
    """
    with file_lock(CACHE_DIR / ".lock"):
        dist = _dist_dir()
        stamp = dist / ".trellis-provisioned"
        pom_hash = _sha256(POM)
        if not (stamp.exists() and stamp.read_text() == pom_hash):
            _download_and_unzip(dist)
            stamp.write_text(pom_hash)

        template = CACHE_DIR / f"template-{_sha256(POM, REALM_JSON)[:16]}" / "keycloakdb.mv.db"
        if not template.exists():
            home = Path(tempfile.mkdtemp(prefix="warmup-", dir=CACHE_DIR))
            try:
                _make_home(dist, home)
                (home / "data" / "import").mkdir()
                shutil.copy2(REALM_JSON, home / "data" / "import" / REALM_JSON.name)
                port = free_port()
                proc, log_path = _launch(home, port, import_realm=True)
                try:
                    _wait_ready(proc, _discovery_url(port), log_path, START_TIMEOUT)
                finally:
                    _terminate(proc)  # graceful: H2 closes the file cleanly
                db = home / "data" / "h2" / "keycloakdb.mv.db"
                if not db.exists():
                    raise ProviderError(f"no H2 database after the warm-up start; log tail:\n{_tail(log_path)}")
                for old in CACHE_DIR.glob("template-*"):
                    shutil.rmtree(old, ignore_errors=True)
                template.parent.mkdir(parents=True)
                shutil.copy2(db, template)
            finally:
                with contextlib.suppress(OSError):  # kept for debugging a failed/slow warm-up
                    shutil.copy2(home / "keycloak.log", CACHE_DIR / "warmup.log")
                shutil.rmtree(home, ignore_errors=True)
        return dist, template


# --------------------------------------------------------------------------- start


def start_provider(tmp_dir: Path, *, port: int | None = None, timeout: float = START_TIMEOUT) -> Provider:
    """Start a Keycloak with the ``trellis`` realm in ``tmp_dir``; return once discovery answers.

    Call :meth:`Provider.stop` when done (also registered with :mod:`atexit`).
    """
    t0 = time.monotonic()
    dist, template = provision()
    home = Path(tmp_dir).resolve() / "keycloak-home"
    _make_home(dist, home)
    (home / "data" / "h2").mkdir()
    shutil.copy2(template, home / "data" / "h2" / template.name)

    port = port or free_port()
    t1 = time.monotonic()
    proc, log_path = _launch(home, port, import_realm=False)
    discovery_url = _discovery_url(port)
    _wait_ready(proc, discovery_url, log_path, timeout)

    realm = _realm()
    client = next(c for c in realm["clients"] if c["clientId"] == "trellis-portal")
    users = {
        u["username"]: User(
            username=u["username"],
            password=next(c["value"] for c in u["credentials"] if c["type"] == "password"),
            email=u["email"],
            given_name=u.get("firstName", ""),
            family_name=u.get("lastName", ""),
            groups=tuple(g.rsplit("/", 1)[-1] for g in u.get("groups", [])),
        )
        for u in realm["users"]
    }
    base_url = f"http://127.0.0.1:{port}"
    provider = Provider(
        issuer=f"{base_url}/realms/{realm['realm']}",
        discovery_url=discovery_url,
        client_id=client["clientId"],
        client_secret=client["secret"],
        users=users,
        base_url=base_url,
        realm=realm["realm"],
        admin_username=ADMIN_USERNAME,
        admin_password=ADMIN_PASSWORD,
        home=home,
        log_path=log_path,
        version=keycloak_version(),
        startup_seconds=round(time.monotonic() - t1, 1),
        _proc=proc,
    )
    atexit.register(provider.stop)
    if os.environ.get("TRELLIS_IDP_VERBOSE"):
        print(f"[idp] provision {t1 - t0:.1f}s, start {provider.startup_seconds}s", file=sys.stderr)
    return provider


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "run"
    if cmd == "provision":
        t0 = time.monotonic()
        dist, template = provision()
        print(f"Keycloak {keycloak_version()} at {dist}\nrealm template {template}\n({time.monotonic() - t0:.1f}s)")
        return 0
    if cmd == "run":
        with tempfile.TemporaryDirectory(prefix="trellis-idp-") as tmp, start_provider(Path(tmp)) as p:
            print(json.dumps({
                "issuer": p.issuer, "discovery_url": p.discovery_url, "client_id": p.client_id,
                "client_secret": p.client_secret, "users": {u.username: u.password for u in p.users.values()},
                "admin": f"{p.base_url}/admin ({p.admin_username}/{p.admin_password})",
                "startup_seconds": p.startup_seconds,
            }, indent=2), flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0
    print("usage: python -m tests.idp.provider [provision|run]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
