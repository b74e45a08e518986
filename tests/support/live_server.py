"""A Flask app behind a real HTTP server (werkzeug, threaded) on 127.0.0.1, for what a test client cannot do:
a browser, a CLI talking HTTP, redirects back from a real identity provider, chunked request bodies."""
from __future__ import annotations

import threading

from werkzeug.serving import make_server


class LiveServer:
    """`with LiveServer(app) as server:` serves `app` at `server.url` until the block ends.

    Port 0 (the default) lets the OS pick a free port when the socket is bound (no race with other tests); pass
    `port` when the address must be known before the app is made (an OIDC redirect URL)."""

    def __init__(self, app, port: int = 0):
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "LiveServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()
