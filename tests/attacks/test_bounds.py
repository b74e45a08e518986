"""Server-side bounds: request bodies that would otherwise be read whole into memory."""
from __future__ import annotations

import socket

import pytest
import yaml

from tests.support.live_server import LiveServer


@pytest.fixture
def live_portal(neo4j_uri, tmp_path, monkeypatch):
    """The portal behind a real HTTP server (chunked bodies need one), with a 1 MiB request limit."""
    from app import create_app
    from tests.conftest import neo4j_auth

    config = tmp_path / "trellis.yaml"
    config.write_text(yaml.safe_dump({
        "env": "development", "max_request_bytes": 1024 * 1024,
        "sources": [{"name": "github-acme", "provider": "github", "options": {"org": "acme"}}]}))
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    monkeypatch.setenv("TRELLIS_SECRET_GITHUB_WEBHOOK_SECRET", "webhook-secret")
    auth = neo4j_auth()
    settings = {"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_CONFIG": str(config), "SECRET_KEY": "s" * 32}
    if auth:
        settings.update(NEO4J_USER=auth[0], NEO4J_PASSWORD=auth[1])
    app = create_app(settings)
    read = {"bytes": 0}
    inner = app.wsgi_app

    def counting(environ, start_response):   # how much of the body the application pulled in
        stream = environ["wsgi.input"]

        class Counted:
            def read(self, *args):
                data = stream.read(*args)
                read["bytes"] += len(data)
                return data

            def readline(self, *args):
                data = stream.readline(*args)
                read["bytes"] += len(data)
                return data

        environ["wsgi.input"] = Counted()
        return inner(environ, start_response)

    app.wsgi_app = counting
    with LiveServer(app) as server:
        yield server.port, read
    app.extensions["trellis.graph"].close()


def chunked_post(port: int, path: str, total: int, chunk: int = 64 * 1024) -> bytes:
    """POST `total` bytes with Transfer-Encoding: chunked (no Content-Length); the raw response."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=" + "0" * 64 + "\r\n"
                      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode())
        sent = 0
        try:
            while sent < total:
                sock.sendall(f"{chunk:x}\r\n".encode() + b" " * chunk + b"\r\n")
                sent += chunk
            sock.sendall(b"0\r\n\r\n")
        except OSError:   # the server answered and closed early: that is the point
            pass
        response = b""
        try:
            while data := sock.recv(65536):
                response += data
        except OSError:
            pass
    return response


def test_a_chunked_webhook_body_over_the_limit_is_refused_with_413(live_portal):
    port, read = live_portal
    response = chunked_post(port, "/api/v1/webhooks/github", total=8 * 1024 * 1024)
    assert read["bytes"] <= 1024 * 1024 + 256 * 1024, f"the server read {read['bytes']} bytes of a chunked body"
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"413", response[:500]
    assert b'"code":"payload_too_large"' in body.replace(b" ", b""), body[:500]
