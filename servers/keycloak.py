"""A local Keycloak (the sign-in tests' real OpenID Provider), provisioned from Maven Central, without Docker.

Why Keycloak: it is a complete, widely deployed OpenID Provider (discovery, JWKS, authorization-code flow with
PKCE, client_secret_basic/post, userinfo, RP-initiated logout), so the sign-in tests talk to the same kind of
server production will. Keycloak publishes its server distribution to Maven Central as
``org.keycloak:keycloak-quarkus-dist`` (a zip); ``files/keycloak.pom.xml`` pins the version and Maven fetches it.
Keycloak 26.x needs Java 21+, so it runs on the Temurin 25 JDK (see :func:`java_home`), independent of the
Java 17 that the Neo4j server uses. The realm (clients, users) is the caller's: tests/idp passes its
``realm-trellis.json``.

Layout (``.trellis/`` is git-ignored):

* ``<state>/keycloak/keycloak-<version>/`` - the unzipped distribution, shared by every instance (override the
  parent dir with ``TRELLIS_KEYCLOAK_DIR``). Its ``lib/quarkus`` holds the dev-mode build that ``kc.sh
  start-dev`` makes once ("augmentation", ~35 s).
* ``<state>/keycloak/template-<hash>/keycloakdb.mv.db`` - an H2 database with the realm already imported. Made
  once per (pom, realm JSON) by starting Keycloak with ``--import-realm`` and stopping it; copying it into each
  instance cuts a start from ~30 s (schema creation + import) to ~9 s.
* ``<home>/`` - one instance: ``bin/`` copied (``kc.sh`` derives the home dir from its own real path),
  ``lib``/``conf``/``themes``/``providers`` symlinked to the shared distribution, and its own ``data/``
  (database, transaction logs) and log file.

Provisioning is serialised with a file lock, so parallel pytest sessions are safe. Standard library only.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from servers.base import FILES, LocalServer, ServerError, file_lock, free_port, state_dir

__all__ = ["ADMIN_PASSWORD", "ADMIN_USERNAME", "CACHE_DIR", "KeycloakError", "KeycloakServer", "NoSuitableJava",
           "POM", "START_TIMEOUT", "discovery_url", "java_home", "keycloak_version", "provision", "start"]

POM = FILES / "keycloak.pom.xml"

#: Shared download/build cache (git-ignored via the ``.trellis/`` rule).
CACHE_DIR = Path(os.environ.get("TRELLIS_KEYCLOAK_DIR") or state_dir() / "keycloak").resolve()

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


class KeycloakError(ServerError):
    """Provisioning, starting or stopping the local Keycloak failed."""


class NoSuitableJava(KeycloakError):
    """This machine has no Java 21+ for Keycloak (Debian's packages stop at 17; the Temurin JDK is missing)."""


class KeycloakServer(LocalServer):
    """One Keycloak instance home (servers.base): its log, and the stop of kc.sh and its JVM together."""

    name = "Keycloak"
    error = KeycloakError
    log_name = "keycloak.log"

    @classmethod
    def stop_process(cls, proc: subprocess.Popen) -> None:
        """SIGTERM the instance's process group (kc.sh and java), SIGKILL after STOP_TIMEOUT. Idempotent."""
        if proc.poll() is not None:
            return
        cls.terminate(proc.pid, STOP_TIMEOUT, group=True, alive=lambda _pid: proc.poll() is None, proc=proc)


def keycloak_version() -> str:
    """Keycloak version pinned in servers/files/keycloak.pom.xml."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    el = ET.parse(POM).getroot().find("m:properties/m:keycloak.version", ns)
    if el is None or not (el.text or "").strip():
        raise KeycloakError(f"no <keycloak.version> property in {POM}")
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
            raise KeycloakError("Maven (mvn) is needed to fetch Keycloak from Maven Central")
        cmd = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy", f"-DoutputDirectory={download}"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not zip_path.exists():
            raise KeycloakError(f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
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


def _launch(home: Path, port: int, *, import_realm: bool) -> subprocess.Popen:
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
        # Fixed issuer (http://127.0.0.1:<port>/realms/<realm>) whatever Host header is used.
        f"--hostname=http://127.0.0.1:{port}",
    ]
    if import_realm:
        cmd.append("--import-realm")
    # own process group (servers.base spawns in a new session): stopping signals kc.sh and java together
    return KeycloakServer(home).spawn(cmd, env=env, cwd=home)


def _discovers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200 and bool(json.load(resp).get("issuer"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _wait_ready(home: Path, proc: subprocess.Popen, url: str, timeout: float) -> None:
    try:
        KeycloakServer(home).wait_until(lambda: _discovers(url), time.monotonic() + timeout, proc=proc,
                                        what=f"answer {url}")
    except KeycloakError:
        KeycloakServer.stop_process(proc)
        raise


def discovery_url(port: int, realm: str) -> str:
    """The OpenID discovery document of `realm` on a local Keycloak at `port`."""
    return f"http://127.0.0.1:{port}/realms/{realm}/.well-known/openid-configuration"


def provision(realm_json: Path) -> tuple[Path, Path]:
    """Download, unzip and build Keycloak and make the realm DB template for `realm_json` (each once).

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

        template = CACHE_DIR / f"template-{_sha256(POM, realm_json)[:16]}" / "keycloakdb.mv.db"
        if not template.exists():
            home = Path(tempfile.mkdtemp(prefix="warmup-", dir=CACHE_DIR))
            try:
                _make_home(dist, home)
                (home / "data" / "import").mkdir()
                shutil.copy2(realm_json, home / "data" / "import" / realm_json.name)
                port = free_port()
                proc = _launch(home, port, import_realm=True)
                try:
                    realm = json.loads(realm_json.read_text())["realm"]
                    _wait_ready(home, proc, discovery_url(port, realm), START_TIMEOUT)
                finally:
                    KeycloakServer.stop_process(proc)  # graceful: H2 closes the file cleanly
                db = home / "data" / "h2" / "keycloakdb.mv.db"
                if not db.exists():
                    raise KeycloakError(f"no H2 database after the warm-up start; log tail:\n"
                                        f"{KeycloakServer(home).log_tail()}")
                for old in CACHE_DIR.glob("template-*"):
                    shutil.rmtree(old, ignore_errors=True)
                template.parent.mkdir(parents=True)
                shutil.copy2(db, template)
            finally:
                with contextlib.suppress(OSError):  # kept for debugging a failed/slow warm-up
                    shutil.copy2(home / "keycloak.log", CACHE_DIR / "warmup.log")
                shutil.rmtree(home, ignore_errors=True)
        return dist, template


def start(home: Path, realm_json: Path, *, port: int | None = None,
          timeout: float = START_TIMEOUT) -> tuple[subprocess.Popen, int]:
    """Start a Keycloak with the realm of `realm_json` in `home` (made afresh); return (process, port) once
    its discovery document answers. Stop it with :meth:`KeycloakServer.stop_process`."""
    dist, template = provision(realm_json)
    _make_home(dist, home)
    (home / "data" / "h2").mkdir()
    shutil.copy2(template, home / "data" / "h2" / template.name)
    port = port or free_port()
    proc = _launch(home, port, import_realm=False)
    realm = json.loads(realm_json.read_text())["realm"]
    _wait_ready(home, proc, discovery_url(port, realm), timeout)
    return proc, port
