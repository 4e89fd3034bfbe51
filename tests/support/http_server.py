"""A threaded HTTP server on loopback for a test double of one of our servers; ``with`` runs it."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    """Serves ``handler`` on 127.0.0.1 (a free port unless given) while inside ``with``;
    ``url`` is the voice webhook's address on it (what the device client talks to)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0,
                 path: str = "/webhooks/voice/webhook") -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        # A short poll interval: shutdown() returns at once instead of after half a second.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
