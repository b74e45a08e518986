"""A local git host for tests: Git's own smart-HTTP server (`git http-backend`) behind a threaded HTTP server.
(`http_backend` is the CGI bridge; tests/support/git_hosting.py builds a forge's REST API around it.)

Why: clones are only allowed from configured integration hosts, so tests that clone need a real host to
configure (`http://127.0.0.1:<port>`, an explicitly plain-HTTP integration) instead of `file://` paths.
`git http-backend` is the CGI program Git ships for exactly this; shallow clones and fetches work as on a
real forge. Every request is recorded (method, path, headers) so tests can assert who was asked what.
"""
from __future__ import annotations

import os
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.files import write_files
from tests.support.http_server import LocalHTTPServer


def http_backend(handler: BaseHTTPRequestHandler, project_root: Path, path_info: str, query: str, body: bytes,
                 env: dict[str, str] | None = None) -> int:
    """Answer one request with `git http-backend` (the CGI program Git ships for smart HTTP) serving the bare
    repositories under `project_root`; `env` adds CGI variables (REMOTE_USER, git config). Returns the status."""
    cgi = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REQUEST_METHOD": handler.command,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": handler.client_address[0],
        "GIT_PROTOCOL": handler.headers.get("Git-Protocol", ""),
        "HTTP_CONTENT_ENCODING": handler.headers.get("Content-Encoding", ""),
        **(env or {}),
    }
    proc = subprocess.run(["git", "http-backend"], input=body, env=cgi, capture_output=True, timeout=60)
    head, _, payload = proc.stdout.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = proc.stdout.partition(b"\n\n")
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name and name.lower() != "content-length":
            headers.append((name, value.strip()))
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
    return status


def make_repo(work: Path, files: dict[str, str | bytes], bare: Path) -> Path:
    """A bare repository at `bare` holding `files` in one commit on `main`."""
    work.mkdir(parents=True, exist_ok=True)
    write_files(work, files)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-C", str(work)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "init"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


class GitHttpServer(LocalHTTPServer):
    """Serves every bare repository under `root` at `http://127.0.0.1:<port>/<name>.git`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:   # quiet test output
                pass

            def do_GET(self) -> None:
                self._cgi()

            def do_POST(self) -> None:
                self._cgi()

            def _cgi(self) -> None:
                parts = urlsplit(self.path)
                owner.requests.append({"method": self.command, "path": parts.path, "headers": dict(self.headers)})
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                http_backend(self, owner.root, parts.path, parts.query, body)

        self._serve(Handler)
        self.host = f"127.0.0.1:{self.port}"
        self.url = self.base_url
