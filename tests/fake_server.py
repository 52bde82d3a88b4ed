"""What every local fake of a provider shares: a socketserver on a loopback port, served by a thread.

`with Fake(...) as fake:` starts serving and stops on exit; `fake.base_url` is where to aim
the real client. Used by tests/fake_twilio.py and tests/fake_push.py.
"""

from __future__ import annotations

import socketserver
import threading


class LocalServer:
    """Serves `self.server` on a daemon thread between __enter__ and __exit__."""

    scheme = "http"

    def _serve_with(self, server: socketserver.TCPServer) -> None:
        self.server = server
        self.server.daemon_threads = True  # a client's kept-alive connection must not hold the process
        # A short poll: shutdown() waits up to one poll interval, at every test's teardown.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
