"""A local stand-in for the VIES REST API (`POST .../check-vat-number`), for tests.

http.server in a thread on 127.0.0.1 (random port). Each test scripts the answers; the last
one repeats once the script runs out ("MS_UNAVAILABLE forever"). Every request is recorded.

    with ViesStub() as stub:
        stub.script(server_error(503), valid_answer("DE", "280857971", name="ACME"))
        client = ViesClient(base_url=stub.base_url, ...)

The JSON follows the real REST API: a check answers `countryCode`, `vatNumber`,
`requestDate`, `valid`, `requestIdentifier`, `name`, `address` (and "---" where a member state
gives nothing); a failure answers `{"actionSucceed": false, "errorWrappers": [{"error":
"MS_UNAVAILABLE", "message": ...}]}`. `user_error_answer` gives the other shape VIES uses
(`userError`, as in its GET /ms/{cc}/vat/{number} answer).
"""

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUEST_DATE = "2024-05-06T09:30:00.000Z"


@dataclass
class StubResponse:
    status: int = 200
    body: dict | str | None = None
    delay: float = 0.0  # seconds before answering (beyond the client's timeout: "slow")


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict
    body: bytes
    json: dict | None = field(default=None)


def valid_answer(country: str, number: str, name: str = "---", address: str = "---"):
    return StubResponse(
        body={
            "countryCode": country,
            "vatNumber": number,
            "requestDate": REQUEST_DATE,
            "valid": True,
            "requestIdentifier": "",
            "name": name,
            "address": address,
            "traderName": "---",
            "traderStreet": "---",
            "traderPostalCode": "---",
            "traderCity": "---",
            "traderCompanyType": "---",
            "traderNameMatch": "NOT_PROCESSED",
            "traderStreetMatch": "NOT_PROCESSED",
            "traderPostalCodeMatch": "NOT_PROCESSED",
            "traderCityMatch": "NOT_PROCESSED",
            "traderCompanyTypeMatch": "NOT_PROCESSED",
        }
    )


def invalid_answer(country: str, number: str):
    response = valid_answer(country, number)
    response.body["valid"] = False
    return response


def error_answer(error: str, status: int = 200):
    """The REST API's failure shape, e.g. error_answer("MS_UNAVAILABLE")."""
    return StubResponse(
        status=status,
        body={"actionSucceed": False, "errorWrappers": [{"error": error, "message": error}]},
    )


def user_error_answer(country: str, number: str, error: str):
    """The `userError` shape: valid false, name/address "---", userError set."""
    return StubResponse(
        body={
            "isValid": False,
            "valid": False,
            "requestDate": REQUEST_DATE,
            "userError": error,
            "name": "---",
            "address": "---",
            "requestIdentifier": "",
            "countryCode": country,
            "vatNumber": number,
        }
    )


def server_error(status: int = 503):
    return StubResponse(status=status, body="<html><body>Service Unavailable</body></html>")


def slow(response: StubResponse, delay: float):
    return StubResponse(status=response.status, body=response.body, delay=delay)


class ViesStub:
    def __init__(self):
        self.requests: list[StubRequest] = []
        self._script: deque[StubResponse] = deque()
        self._last = server_error(500)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/taxation_customs/vies/rest-api"

    def script(self, *responses: StubResponse) -> None:
        """Answer with these in order; the last one repeats."""
        with self._lock:
            self._script = deque(responses)

    def start(self) -> "ViesStub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes slow answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ViesStub":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _next(self) -> StubResponse:
        with self._lock:
            if self._script:
                self._last = self._script.popleft()
            return self._last

    def _record(self, request: StubRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
                stub._record(
                    StubRequest(
                        method="POST",
                        path=self.path,
                        headers=dict(self.headers),
                        body=raw,
                        json=parsed,
                    )
                )
                if not self.path.endswith("/check-vat-number"):
                    self._send(StubResponse(status=404, body={"error": "not found"}))
                    return
                self._send(stub._next())

            def _send(self, response: StubResponse) -> None:
                if response.delay and stub._stopping.wait(response.delay):
                    return
                body = response.body
                if isinstance(body, str):
                    data, content_type = body.encode(), "text/html"
                else:
                    data, content_type = json.dumps(body).encode(), "application/json"
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timed out) before the answer

            def log_message(self, format, *args):
                pass

        return Handler
