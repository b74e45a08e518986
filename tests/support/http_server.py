"""The one way the tests' stand-in hosts (recorded provider APIs, git over HTTP, file hosts, an OAuth provider)
serve: a `BaseHTTPRequestHandler` class on a threaded HTTP server at 127.0.0.1:<free port>, in a daemon thread,
started and stopped with `with`."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHTTPServer:
    """Base class: call `self._serve(Handler)` in `__init__`; then `self.server`, `self.port`, `self.thread` and
    `self.base_url` (`http://127.0.0.1:<port>`) exist, and `with obj:` serves until the block ends."""

    server: ThreadingHTTPServer
    port: int
    thread: threading.Thread

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        # port 0: the OS picks a free port when the socket is bound (no window for another test to take it)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
