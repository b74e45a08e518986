"""Run a real Neo4j 5.26 Community server (+ APOC) as a local Java 17 process.

Why: Trellis stores its catalog in Neo4j, and there is no Docker and no neo4j.com
download here. Neo4j publishes its Community modules to Maven Central, so we fetch
the runtime closure of ``org.neo4j:neo4j`` with Maven (see ``pom.xml`` next to this
file) and start ``org.neo4j.server.CommunityEntryPoint`` ourselves - the same class
the official ``bin/neo4j`` bootloader launches in its second JVM.

Layout:

* ``<repo>/.trellis/neo4j-dist/{lib,plugins}`` - jars, shared by every server home
  (provisioned once per pom hash; override with ``TRELLIS_NEO4J_DIST``).
* ``<home>/{conf,data,logs,run,import}`` - one server instance (``DEFAULT_HOME`` is
  ``<repo>/.trellis/neo4j``; override with ``TRELLIS_NEO4J_HOME``). Data lives here,
  so it survives stop/start.
* ``<home>/auth/password`` - the generated password of the ``neo4j`` user (mode 0600), kept
  beside the data it protects. Every command finds it through :func:`credentials_for`.

Hardened even for development, because any local process and any web page the developer
opens could otherwise talk to it: authentication on (a generated password, set on first
start), only Bolt on 127.0.0.1 (the HTTP connector, which browsers can reach with
cross-origin requests, is off), and APOC limited to the procedures Trellis calls
(:data:`APOC_ALLOWLIST`).

Only the standard library: servers/ is the lowest layer and never imports ``neo4j`` (LAYERING.md). What needs
the driver - changing Neo4j's initial password on first start, asking a running server its version - lives in
``graph.server``, which passes it in (:func:`start`'s ``set_password``); use ``graph.server.start`` and
``graph.server.status``, everything else from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from servers.base import FILES, LocalServer, ServerError, file_lock, free_port, pid_alive, port_busy
from servers.paths import PACKAGES_ROOT, state_dir

__all__ = [
    "DEFAULT_HOME",
    "DIST_DIR",
    "INITIAL_PASSWORD",
    "POM",
    "USER",
    "Neo4jServer",
    "ServerError",
    "ServerInfo",
    "APOC_ALLOWLIST",
    "apoc_version",
    "credentials",
    "credentials_for",
    "env_for",
    "file_lock",
    "free_port",
    "generated_password",
    "info_dict",
    "neo4j_version",
    "password_file",
    "provision",
    "running_info",
    "start",
    "status",
    "stop",
]

POM: Path = FILES / "neo4j.pom.xml"
REPO_ROOT: Path = PACKAGES_ROOT   # the checkout (or site-packages when installed); state goes to state_dir()


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


#: Project-local server home (``.trellis/`` is git-ignored).
DEFAULT_HOME: Path = _env_path("TRELLIS_NEO4J_HOME", state_dir() / "neo4j")
#: Shared jar cache: ``lib/`` (Neo4j + deps) and ``plugins/`` (APOC); one download for all homes.
DIST_DIR: Path = _env_path("TRELLIS_NEO4J_DIST", state_dir() / "neo4j-dist")

_STAMP = ".provisioned"
_PID_FILE = "neo4j.pid"
_STATE_FILE = "server.json"

# JVM flags as used by launchers that call CommunityEntryPoint directly (the official
# bootloader adds the same set). The --add-opens are needed by Netty/Lucene on Java 17.
_JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
]
_MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
#: The only procedures/functions the server offers besides Neo4j's own: what graph/ calls (walks) and the
#: version check. Everything else of APOC (file, URL and shell access, dynamic Cypher) is not loaded.
APOC_ALLOWLIST = ("apoc.path.spanningTree", "apoc.version")
USER = "neo4j"
_PASSWORD_FILE = Path("auth") / "password"
INITIAL_PASSWORD = "neo4j"   # what Neo4j creates the user with (expired: it may only be changed)


class Neo4jServer(LocalServer):
    """The supervision of one server home (the shared mechanics of servers.base, Neo4j's log and name)."""

    name = "Neo4j"
    error = ServerError
    log_name = str(Path("logs") / "console.log")


@dataclass(frozen=True)
class ServerInfo:
    """Where a running local server answers; returned by :func:`start`."""

    uri: str
    pid: int
    home: Path
    bolt_port: int
    http_port: int


# --------------------------------------------------------------------------- helpers


def _pom_properties() -> dict[str, str]:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = ET.parse(POM).getroot().find("m:properties", ns)
    if props is None:
        return {}
    return {el.tag.split("}", 1)[1]: (el.text or "").strip() for el in props}


def neo4j_version() -> str:
    """Neo4j version pinned in servers/files/neo4j.pom.xml."""
    return _pom_properties()["neo4j.version"]


def apoc_version() -> str:
    """APOC version pinned in servers/files/neo4j.pom.xml."""
    return _pom_properties()["apoc.version"]


def _pom_hash() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _java() -> str:
    """java executable: $TRELLIS_JAVA, then $JAVA_HOME/bin/java, then PATH (needs 17 or 21)."""
    candidates = [os.environ.get("TRELLIS_JAVA")]
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    candidates.append(shutil.which("java"))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            _check_java_version(c)
            return c
    raise ServerError("java not found (Neo4j 5.26 needs Java 17 or 21; set JAVA_HOME or TRELLIS_JAVA)")


def _check_java_version(java: str) -> None:
    """Neo4j 5.26 supports Java 17 and 21 only; fail early with a clear message otherwise."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerError(f"cannot run {java}: {exc}") from exc
    m = re.search(r'version "(\d+)', out)
    if m and m.group(1) not in ("17", "21"):
        raise ServerError(f"{java} is Java {m.group(1)}; Neo4j 5.26 needs Java 17 or 21 "
                          f"(set TRELLIS_JAVA or JAVA_HOME)")


def _pid_alive(pid: int) -> bool:
    # Reap our own children first, or a dead server would linger as a zombie.
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    return pid_alive(pid)


def _is_our_server(pid: int, home: Path) -> bool:
    """Guard against PID reuse: the process must be our java with --home-dir=<home>."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _pid_alive(pid)  # no /proc: trust the pid file
    return f"--home-dir={home}".encode() in cmdline


_CHILDREN: dict[int, subprocess.Popen] = {}


#: Bolt's handshake: the magic preamble, then four version proposals (5.0-5.8, 4.4), each [0, range, minor, major].
_BOLT_HANDSHAKE = bytes.fromhex("6060B017" "00080805" "00000404" "00000000" "00000000")


def _bolt_answers(port: int, timeout: float = 3.0) -> bool:
    """Whether Bolt is up on 127.0.0.1:`port`: the server answers the protocol handshake with one of the versions
    proposed (the driver is not needed to know; graph.server then logs in). Another program that merely
    answers on the port is not taken for Neo4j."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(_BOLT_HANDSHAKE)
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return reply[:2] == b"\0\0" and reply[3] in (4, 5)   # a version we proposed, [0, 0, minor, major]


def _home(home: Path | str | None) -> Path:
    return Path(home).expanduser().resolve() if home is not None else DEFAULT_HOME


def _read_state(home: Path) -> dict | None:
    try:
        pid = int((home / _PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        state = json.loads((home / _STATE_FILE).read_text())
    except (OSError, ValueError):
        state = {}
    state["pid"] = pid
    return state


def _clear_state(home: Path) -> None:
    for name in (_PID_FILE, _STATE_FILE):
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()


# ---------------------------------------------------------------------- credentials

#: Homes started by this process, by Bolt URI (test and benchmark servers in temporary homes).
_STARTED: dict[str, Path] = {}


def password_file(home: Path) -> Path:
    """Where the home's generated password is kept (mode 0600, beside the data it protects)."""
    return home / _PASSWORD_FILE


def generated_password(home: Path) -> str:
    """The home's password, generated (0600, beside the data) the first time the server starts."""
    path = password_file(home)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    password = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password


def credentials(home: Path | str | None = None) -> tuple[str, str] | None:
    """(user, password) of the server of ``home``, or None when it has never been started here."""
    try:
        password = password_file(_home(home)).read_text().strip()
    except OSError:
        return None
    return (USER, password) if password else None


def credentials_for(uri: str) -> tuple[str, str] | None:
    """The credentials of the local server answering at ``uri``, if it is one of ours.

    Why: every command (CLI, portal, worker, benchmarks, tests) connects without being told a password,
    so the one the server generated is found here: servers this process started, then the project-local
    server (``DEFAULT_HOME``) when ``uri`` is its loopback Bolt port.
    """
    home = _STARTED.get(uri)
    if home is not None:
        return credentials(home)
    match = re.match(r"^(?:bolt|neo4j)://(?:127\.0\.0\.1|localhost)(?::(\d+))?/?$", uri or "")
    if not match:
        return None
    port = int(match.group(1) or 7687)
    try:
        state = json.loads((DEFAULT_HOME / _STATE_FILE).read_text())
    except (OSError, ValueError):
        state = {}
    if int(state.get("bolt_port", 7687)) != port:
        return None
    return credentials(DEFAULT_HOME)


def env_for(uri: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process (CLI, worker, web) that is to talk to the server at ``uri``.

    Why: a child inherits NEO4J_USER/NEO4J_PASSWORD meant for another server, or none for a server this
    process started in its own home. For such a server the child gets that home (``TRELLIS_NEO4J_HOME``, so
    :func:`credentials_for` finds the generated password there, never copied into the environment) and no
    other credentials; for any other server, ``base`` (default ``os.environ``) is kept as it is.
    """
    env = dict(os.environ if base is None else base)
    env["NEO4J_URI"] = uri
    home = _STARTED.get(uri)
    if home is not None:
        env.pop("NEO4J_USER", None)
        env.pop("NEO4J_PASSWORD", None)
        env["TRELLIS_NEO4J_HOME"] = str(home)
    return env


# ------------------------------------------------------------------------ provision


def provision(home: Path | str | None = None, *, quiet: bool = True) -> Path:
    """Make sure the Neo4j + APOC jars are on disk; returns the dist dir holding them.

    Jars go to the shared :data:`DIST_DIR` (``lib/`` and ``plugins/``) rather than into
    ``home`` so that every server home - including throwaway test servers - reuses one
    download. ``home`` is accepted for symmetry with :func:`start` and is not written to.
    Cached: nothing happens when the stamp file records the current pom hash.
    """
    del home  # all homes share DIST_DIR
    dist = DIST_DIR
    stamp = dist / _STAMP
    want = _pom_hash()
    if stamp.is_file() and stamp.read_text().strip() == want:
        return dist
    with file_lock(dist / ".lock"):
        if stamp.is_file() and stamp.read_text().strip() == want:
            return dist  # another process provisioned while we waited
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServerError("mvn not found on PATH (needed once to fetch Neo4j from Maven Central)")
        lib, plugins = dist / "lib", dist / "plugins"
        staging = dist / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(POM), "dependency:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={staging / 'lib'}"]
        if quiet:
            cmd.insert(1, "-q")
        proc = subprocess.run(cmd, stdout=subprocess.PIPE if quiet else None,
                              stderr=subprocess.STDOUT if quiet else None, text=True)
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            lines = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout or "").splitlines()
            first = next((ln for ln in lines if "[ERROR]" in ln), "see mvn output above")
            raise ServerError(f"mvn failed (exit {proc.returncode}) provisioning Neo4j: {first.strip()}\n"
                              + "\n".join(lines[-30:]))
        (staging / "plugins").mkdir(parents=True)
        for jar in (staging / "lib").glob("apoc-*.jar"):
            jar.rename(staging / "plugins" / jar.name)
        # swap in atomically-ish: a running server keeps its open jar handles
        for name, target in (("lib", lib), ("plugins", plugins)):
            shutil.rmtree(target, ignore_errors=True)
            (staging / name).rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        stamp.write_text(want + "\n")
    return dist


# ---------------------------------------------------------------------------- config


def _write_conf(home: Path, dist: Path, bolt_port: int, http_port: int, pagecache: str) -> Path:
    """Write <home>/conf/neo4j.conf. Strict validation is on: only real 5.x keys here."""
    conf_dir = home / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    d = {name: home / name for name in ("data", "logs", "run", "import")}
    for p in d.values():
        p.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by servers/neo4j.py on every start; edits are overwritten.",
        f"server.directories.data={d['data']}",
        f"server.directories.transaction.logs.root={d['data'] / 'transactions'}",
        f"server.directories.logs={d['logs']}",
        f"server.directories.run={d['run']}",
        f"server.directories.import={d['import']}",
        f"server.directories.plugins={dist / 'plugins'}",
        "server.default_listen_address=127.0.0.1",
        "server.default_advertised_address=127.0.0.1",
        "server.bolt.enabled=true",
        f"server.bolt.listen_address=127.0.0.1:{bolt_port}",
        f"server.bolt.advertised_address=127.0.0.1:{bolt_port}",
        # No HTTP connector: web pages can send requests to localhost ports; Bolt is all Trellis uses.
        "server.http.enabled=false",
        f"server.http.listen_address=127.0.0.1:{http_port}",
        "server.https.enabled=false",
        "dbms.security.auth_enabled=true",
        "dbms.usage_report.enabled=false",
        f"dbms.security.procedures.allowlist={','.join(APOC_ALLOWLIST)}",
        f"server.memory.pagecache.size={pagecache}",
        # dev/test server: don't preallocate 256 MB of tx log per database
        "db.tx_log.preallocate=false",
        # Bolt waits 2x5 s for idle connections on shutdown by default
        "internal.server.bolt.connection_shutdown_wait_time=1s",
        "internal.server.bolt.thread_pool_shutdown_wait_time=1s",
    ]
    conf = conf_dir / "neo4j.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


# ------------------------------------------------------------------ start/stop/status


def _uri(port: int) -> str:
    return f"bolt://127.0.0.1:{port}"


def _running_info(home: Path) -> ServerInfo | None:
    state = _read_state(home)
    if not state:
        return None
    pid = state["pid"]
    if not (_pid_alive(pid) and _is_our_server(pid, home)):
        _clear_state(home)
        return None
    bolt = int(state.get("bolt_port", 7687))
    return ServerInfo(_uri(bolt), pid, home, bolt, int(state.get("http_port", 7474)))


def _wait_for_bolt(info: ServerInfo, proc: subprocess.Popen | None, deadline: float) -> None:
    try:
        Neo4jServer(info.home).wait_until(lambda: _bolt_answers(info.bolt_port, timeout=2.0), deadline, proc=proc,
                                          pid=info.pid, what=f"answer on {info.uri}")
    except ServerError:
        if proc is not None and proc.poll() is not None:
            _CHILDREN.pop(info.pid, None)
        if (proc is not None and proc.poll() is not None) or (proc is None and not _pid_alive(info.pid)):
            _clear_state(info.home)
        raise


#: The step that makes a freshly started server usable: graph.server's, which logs in with the home's generated
#: password and, on a fresh store, changes Neo4j's initial one to it (it needs the driver, servers/ does not).
SetPassword = Callable[[ServerInfo, float], None]


MiB = 1 << 20


def _machine_memory() -> int:
    """Bytes of physical memory (the cgroup limit when one is set lower, as in a container)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            total = min(total, int(raw))
    return total


def store_bytes(home: Path | str | None = None) -> int:
    """Bytes of the server's store files on disk (``data/databases``), 0 for a new home."""
    root = _home(home) / "data" / "databases"
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.is_dir() else 0


def memory_for(store: int, machine: int) -> tuple[str, str]:
    """(heap, page cache) for a store of ``store`` bytes on a machine with ``machine`` bytes of memory.

    Why these numbers: Neo4j serves reads from its page cache; a store that fits in it never waits for the
    disk, so the page cache is the store plus half again for growth (at least 256 MiB). The heap holds
    transactions and query state: an ingest batch and the portal's queries fit in 1 GiB up to about 50k
    entities (a ~0.5 GiB store), 2 GiB beyond. Neither may take more than the machine can spare: the heap at
    most a quarter of it, both together at most half (the rest is for the portal, workers, the OS).
    Measured figures are in the README (Deploying: local Neo4j memory)."""
    heap = 1024 * MiB if store < 512 * MiB else 2048 * MiB
    heap = max(512 * MiB, min(heap, machine // 4))
    pagecache = max(256 * MiB, store + store // 2)
    pagecache = max(128 * MiB, min(pagecache, machine // 2 - heap))
    return f"{heap // MiB}m", f"{pagecache // MiB}m"


def sized_memory(home: Path | str | None = None) -> tuple[str, str]:
    """`memory_for` this home's store on this machine; TRELLIS_NEO4J_HEAP / TRELLIS_NEO4J_PAGECACHE override."""
    heap, pagecache = memory_for(store_bytes(home), _machine_memory())
    return os.environ.get("TRELLIS_NEO4J_HEAP") or heap, os.environ.get("TRELLIS_NEO4J_PAGECACHE") or pagecache


def start(
    home: Path | str | None = None,
    *,
    set_password: SetPassword,
    bolt_port: int = 7687,
    http_port: int = 7474,
    heap: str | None = None,
    pagecache: str | None = None,
    timeout: float = 180,
) -> ServerInfo:
    """Start (or reuse) the local Neo4j server for ``home`` and wait until Bolt answers.

    Idempotent: if the server recorded in ``home`` is alive, its info is returned
    (with the ports it was started on, which may differ from the arguments).
    Provisions the jars first if needed. Raises :class:`ServerError` with the tail of
    ``<home>/logs/console.log`` if the JVM dies or Bolt does not come up in ``timeout``.
    Call it through ``graph.server.start``, which supplies ``set_password``. ``heap``/``pagecache`` left out
    are sized from the machine and the store already in ``home`` (:func:`sized_memory`).
    """
    home = _home(home)
    home.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with file_lock(home / ".start.lock"):
        info = _running_info(home)
        if info is not None:
            _wait_for_bolt(info, _CHILDREN.get(info.pid), deadline)
            _STARTED[info.uri] = home
            return info
        for port in (bolt_port, http_port):
            if port_busy(port):
                raise ServerError(f"port {port} on 127.0.0.1 is already in use "
                                  f"(another Neo4j? try `trellis neo4j status` or other ports)")
        dist = provision(home)
        if heap is None or pagecache is None:
            sized_heap, sized_pagecache = sized_memory(home)
            heap, pagecache = heap or sized_heap, pagecache or sized_pagecache
        conf = _write_conf(home, dist, bolt_port, http_port, pagecache)
        classpath = ":".join([str(dist / "plugins" / "*"), str(conf.parent / "*"), str(dist / "lib" / "*")])
        cmd = [_java(), *_JVM_FLAGS, f"-Xms{heap}", f"-Xmx{heap}", "-cp", classpath, _MAIN_CLASS,
               f"--home-dir={home}", f"--config-dir={conf.parent}", "--console-mode"]
        server = Neo4jServer(home)
        server.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(server.log_path, "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        proc = server.spawn(cmd, cwd=home)
        _CHILDREN[proc.pid] = proc
        (home / _PID_FILE).write_text(f"{proc.pid}\n")
        (home / _STATE_FILE).write_text(json.dumps(
            {"bolt_port": bolt_port, "http_port": http_port, "heap": heap, "pagecache": pagecache,
             "neo4j_version": neo4j_version(), "apoc_version": apoc_version()}, indent=2) + "\n")
        info = ServerInfo(_uri(bolt_port), proc.pid, home, bolt_port, http_port)
        try:
            _wait_for_bolt(info, proc, deadline)
            set_password(info, deadline)
            _STARTED[info.uri] = home
        except BaseException:  # incl. KeyboardInterrupt: don't leave a half-started JVM behind
            if proc.poll() is None:
                _terminate(proc.pid, 15.0)
            _CHILDREN.pop(proc.pid, None)
            _clear_state(home)
            raise
        return info


def _terminate(pid: int, timeout: float) -> None:
    Neo4jServer.terminate(pid, timeout, alive=_pid_alive, proc=_CHILDREN.pop(pid, None))


def stop(home: Path | str | None = None, timeout: float = 30) -> bool:
    """Stop the server of ``home`` (SIGTERM, then SIGKILL after ``timeout`` s).

    Returns True if a running server was stopped, False if none was running.
    Neo4j checkpoints on SIGTERM, so data is safe across stop/start.
    """
    home = _home(home)
    info = _running_info(home)
    if info is None:
        _clear_state(home)
        return False
    _terminate(info.pid, timeout)
    _clear_state(home)
    return True


def status(home: Path | str | None = None) -> dict:
    """Describe the server of ``home`` as far as its process goes: running, pid, uri, ports, home.

    ``ready``, ``version`` and ``edition`` stay unset here: they need a Bolt session (``graph.server.status``
    fills them in from ``CALL dbms.components()``).
    """
    home = _home(home)
    info = _running_info(home)
    result: dict = {"running": False, "ready": False, "pid": None, "uri": None,
                    "version": None, "edition": None, "home": str(home)}
    if info is None:
        return result
    result.update(running=True, pid=info.pid, uri=info.uri, bolt_port=info.bolt_port,
                  http_port=info.http_port)
    return result


def running_info(home: Path | str | None = None) -> ServerInfo | None:
    """The server recorded in ``home`` when its JVM is alive (None otherwise)."""
    return _running_info(_home(home))


def info_dict(info: ServerInfo) -> dict:
    """JSON-friendly form of a :class:`ServerInfo`."""
    d = asdict(info)
    d["home"] = str(info.home)
    return d

