"""The machinery the local stand-ins for outside services share (VIES, Stripe Tax):
http.server in a thread on 127.0.0.1 (random port), answers scripted per test (the last one
repeats once the script runs out; an answer may be a function of the request), every request
recorded. A subclass says which requests it knows (`known`) and how it parses them
(`parse`)."""

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class StubResponse:
    status: int = 200
    body: dict | str | None = None
    delay: float = 0.0  # seconds before answering (beyond the client's timeout: "slow")
    headers: dict = field(default_factory=dict)


class StubServer:
    path_prefix = ""  # what `base_url` adds after the host

    def __init__(self):
        self.requests: list = []
        self._script: deque = deque()
        self._last = self.default_answer()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # What a subclass decides.
    def default_answer(self) -> StubResponse:
        return StubResponse(status=500, body={"error": "no answer scripted"})

    def parse(self, method: str, path: str, headers: dict, raw: bytes):
        """The recorded request."""
        raise NotImplementedError

    def unknown(self, method: str, path: str) -> StubResponse | None:
        """The answer to a request this service does not know (None: it knows it)."""
        return None

    # The rest is common.
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path_prefix}"

    def script(self, *answers) -> None:
        """Answer with these in order; the last one repeats."""
        with self._lock:
            self._script = deque(answers)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes slow answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _answer(self, request) -> StubResponse:
        with self._lock:
            self.requests.append(request)
            if self._script:
                self._last = self._script.popleft()
            answer = self._last
        return answer(request) if callable(answer) else answer

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = self.parse(
            method, handler.path, dict(handler.headers), handler.rfile.read(length)
        )
        refused = self.unknown(method, handler.path)
        if refused is not None:
            with self._lock:
                self.requests.append(request)
            self._send(handler, refused)
        else:
            self._send(handler, self._answer(request))

    def _send(self, handler: BaseHTTPRequestHandler, response: StubResponse) -> None:
        if response.delay and self._stopping.wait(response.delay):
            return
        body = response.body
        if isinstance(body, str):
            data, content_type = body.encode(), "text/html"
        else:
            data, content_type = json.dumps(body).encode(), "application/json"
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out) before the answer

    def _handler_class(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                stub._handle(self, "POST")

            def do_GET(self):
                stub._handle(self, "GET")

            def log_message(self, format, *args):
                pass

        return Handler
