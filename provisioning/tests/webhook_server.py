"""A real local HTTP server for webhook tests: answers 200 on /ok, 500 on /fail, hangs on
/hang (longer than the tests' timeout), and keeps what it received."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: str


@dataclass
class WebhookServer:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    hang_seconds: float = 2.0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


def start_server() -> WebhookServer:
    state: WebhookServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode()
            state.received.append(Received(self.path, dict(self.headers), body))
            if self.path.startswith("/hang"):
                time.sleep(state.hang_seconds)
                return
            code = 200 if self.path.startswith("/ok") else 500
            answer = ("thanks" if code == 200 else "x" * 5000).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass

        def handle(self):
            try:
                super().handle()
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = WebhookServer(server=server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state
