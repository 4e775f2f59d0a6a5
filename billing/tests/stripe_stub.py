"""A small local stand-in for the Stripe API, so the Stripe tests never touch the network.

A threaded `http.server` on 127.0.0.1 serves the endpoints the adapter and dj-stripe call,
answering with recorded objects (billing/tests/stripe_fixtures/) adapted to each request.
Like Stripe it replays the stored answer of a POST whose Idempotency-Key it has seen.

    stub = StripeStub().start()            # stub.url = "http://127.0.0.1:<port>"; stub.stop()
    stub.script("POST /v1/payment_intents", "card_declined", decline_code="expired_card")
    stub.requests                          # what we sent: path, form, Idempotency-Key

A script applies to the next request of its route. Creating a PaymentIntent: "succeeded" (the
default; `risk_level=`), "processing", "requires_action", "card_declined" (402;
`decline_code=`), "processing_error", "authentication_required" (402). Any route:
"server_error" (500), "rate_limited" (429), "unauthorized" (401), "hang" (does the work, then
answers after `hang_seconds`, later than the client's timeout).
"""

import itertools
import json
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import stripe

FIXTURES = Path(__file__).parent / "stripe_fixtures"
TEST_SECRET_KEY = "sk_test_" + "stubstubstubstubstubstub"  # dj-stripe wants 24+ characters
# Card test tokens -> (brand, last4, country, decline code when attaching it)
TOKENS = {
    "tok_visa": ("visa", "4242", "US", ""),
    "tok_mastercard": ("mastercard", "4444", "US", ""),
    "tok_chargeDeclined": ("visa", "0002", "US", "generic_decline"),
}
ERRORS = {
    "server_error": (500, "api_error", "", "An unknown error occurred."),
    "rate_limited": (429, "invalid_request_error", "rate_limit", "Too many requests."),
    "unauthorized": (401, "invalid_request_error", "", "Invalid API Key provided."),
}
DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "processing_error": "An error occurred while processing your card. Try again.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict
    form: dict
    idempotency_key: str
    body: str


def _flat(pairs: dict) -> dict:
    return {key: values[-1] for key, values in pairs.items()}


def _metadata(form: dict) -> dict:
    return {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[") and k.endswith("]")}


def _error(status: int, type_: str, message: str, **fields) -> tuple[int, dict]:
    return status, {"error": {"type": type_, "message": message, **fields}}


def _missing(what: str) -> tuple[int, dict]:
    return _error(404, "invalid_request_error", f"No such {what}", code="resource_missing")


class StripeStub:
    def __init__(self, hang_seconds: float = 1.5):
        self.hang_seconds = hang_seconds
        self.requests: list[Received] = []
        self.objects: dict[str, dict] = {}
        self.search_lag = False  # True: searches find nothing yet (Stripe's search is eventual)
        self._scripts: dict[str, list[tuple[str, dict]]] = {}
        self._replies: dict[str, tuple[int, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        account = fixture("account_standard_acct_1Fg9jUA3kq9o1aTc")
        self.objects["account"] = account
        for name in ("payment_method_us_bank_account", "payment_method_sepa_debit"):
            self.add(fixture(name))

    # Control from the tests
    def start(self) -> "StripeStub":
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        serve = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        serve.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, route: str, behaviour: str, **options) -> None:
        """The next request to `route` ("POST /v1/payment_intents") behaves so."""
        self._scripts.setdefault(route, []).append((behaviour, options))

    def add(self, obj: dict) -> dict:
        self.objects[obj["id"]] = obj
        return obj

    def calls(self, method: str, path: str) -> list[Received]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def setup_intent_confirm(self, setup_intent_id: str, payment_method_id: str) -> None:
        """What Stripe Elements does in the customer's browser: the SetupIntent succeeds and
        its payment method is attached to its customer."""
        intent = self.objects[setup_intent_id]
        intent.update(status="succeeded", payment_method=payment_method_id)
        self.objects[payment_method_id]["customer"] = intent["customer"]

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_stub{next(self._ids):04d}"  # no long digit runs (card number check)

    # Serving
    def handle(self, method: str, path: str, query: dict, form: dict, key: str):
        """(status, body, seconds to wait before answering); called under the lock."""
        queue = self._scripts.get(f"{method} {path}")
        behaviour, options = queue.pop(0) if queue else ("", {})
        if behaviour in ERRORS:
            status, type_, code, message = ERRORS[behaviour]
            return (*_error(status, type_, message, code=code), 0)
        if method == "POST" and key and key in self._replies:
            return (*self._replies[key], 0)
        status, body = self._route(method, path, query, form, behaviour, options)
        if method == "POST" and key and status < 500:
            self._replies[key] = (status, body)
        return status, body, self.hang_seconds if behaviour == "hang" else 0

    def _route(self, method, path, query, form, behaviour, options) -> tuple[int, dict]:
        parts = path.strip("/").split("/")[1:]  # without "v1"
        if parts == ["account"]:
            return 200, self.objects["account"]
        if method == "GET" and len(parts) == 2 and parts[1] == "search":
            return 200, self._search(parts[0], query.get("query", ""))
        if method == "GET" and parts == ["payment_intents"]:
            return 200, self._intents_list(query)
        if method == "GET" and len(parts) == 2:
            return self._retrieve(parts[1], query)
        create = {
            ("customers",): self._customer_create,
            ("payment_methods",): self._payment_method_create,
            ("setup_intents",): self._setup_intent_create,
            ("payment_intents",): self._intent_create,
            ("refunds",): self._refund_create,
        }.get(tuple(parts))
        if method == "POST" and create:
            return create(form, behaviour=behaviour, **options)
        if method == "POST" and len(parts) == 3 and parts[2] == "attach":
            return self._attach(parts[1], form)
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({path}).")

    def _retrieve(self, id_: str, query: dict) -> tuple[int, dict]:
        obj = self.objects.get(id_)
        return (200, self._expanded(obj, query)) if obj else _missing(f"object: '{id_}'")

    def _expanded(self, obj: dict, query: dict) -> dict:
        expand = {v.removeprefix("data.") for k, v in query.items() if k.startswith("expand")}
        if "latest_charge" in expand and isinstance(obj.get("latest_charge"), str):
            return {**obj, "latest_charge": self.objects[obj["latest_charge"]]}
        return obj

    def _of(self, kind: str) -> list[dict]:
        return [obj for obj in self.objects.values() if obj.get("object") == kind]

    def _search(self, collection: str, query: str) -> dict:
        """Only `metadata['key']:'value'` clauses (joined by AND) are understood."""
        wanted = dict(re.findall(r"metadata\['([^']+)'\]:'([^']*)'", query))
        kind = collection.rstrip("s")
        found = [o for o in self._of(kind) if wanted.items() <= o.get("metadata", {}).items()]
        data = [] if self.search_lag or not wanted else found
        return {"object": "search_result", "data": data, "has_more": False, "next_page": None}

    def _intents_list(self, query: dict) -> dict:
        since = int(query.get("created[gte]", 0))
        intents = [o for o in self._of("payment_intent") if o["created"] >= since]
        intents.sort(key=lambda o: (o["created"], o["id"]), reverse=True)
        after = query.get("starting_after")
        if after:
            ids = [o["id"] for o in intents]
            intents = intents[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", 10))
        page = [self._expanded(o, query) for o in intents[:limit]]
        return {"object": "list", "data": page, "has_more": len(intents) > limit}

    def _customer_create(self, form, **_) -> tuple[int, dict]:
        customer = fixture("customer_cus_4QWKsZuuTHcs7X")
        customer.update(
            id=self.new_id("cus"),
            email=form.get("email"),
            name=form.get("name"),
            metadata=_metadata(form),
            default_source=None,
            created=int(time.time()),
            sources={"object": "list", "data": [], "has_more": False, "url": "/v1/sources"},
        )
        return 200, self.add(customer)

    def _payment_method_create(self, form, **_) -> tuple[int, dict]:
        token = form.get("card[token]", "")
        if token not in TOKENS:
            return _missing(f"token: '{token}'")
        brand, last4, country, _decline = TOKENS[token]
        method = fixture("payment_method_pm_fakefakefakefake0001")
        method.update(id=self.new_id("pm"), customer=None, metadata={}, created=int(time.time()))
        method["card"].update(
            brand=brand, last4=last4, country=country, exp_month=12, exp_year=2034
        )
        method["card"]["fingerprint"] = f"fp{token}"
        method["_token"] = token  # the stub's own note: which test card this is
        return 200, self.add(method)

    def _attach(self, method_id: str, form) -> tuple[int, dict]:
        method = self.objects.get(method_id)
        if method is None:
            return _missing("PaymentMethod")
        decline = TOKENS.get(method.get("_token", ""), ("", "", "", ""))[3]
        if decline:  # attaching a card checks it with the bank
            error = {"code": "card_declined", "decline_code": decline}
            return _error(402, "card_error", "Your card was declined.", **error)
        if method.get("customer") not in (None, form["customer"]):
            return _error(400, "invalid_request_error", "Already attached to another customer.")
        method["customer"] = form["customer"]
        return 200, method

    def _setup_intent_create(self, form, **_) -> tuple[int, dict]:
        intent = fixture("setup_intent_pi_destination_charge")
        intent_id = self.new_id("seti")
        kinds = [v for k, v in sorted(form.items()) if k.startswith("payment_method_types[")]
        intent.update(
            id=intent_id,
            client_secret=f"{intent_id}_secret_stub",
            customer=form.get("customer"),
            status="requires_payment_method",
            payment_method=None,
            payment_method_types=kinds,
            created=int(time.time()),
        )
        return 200, self.add(intent)

    def _intent_create(self, form, *, behaviour: str = "", **options) -> tuple[int, dict]:
        intent = fixture("payment_intent_pi_fakefakefakefakefake0001")
        for stale in ("charges", "source", "invoice"):  # pre-2022 fields
            intent.pop(stale, None)
        intent_id = self.new_id("pi")
        amount = int(form["amount"])
        intent.update(
            id=intent_id,
            amount=amount,
            amount_received=0,
            currency=form["currency"],
            customer=form.get("customer"),
            payment_method=form.get("payment_method"),
            description=form.get("description"),
            metadata=_metadata(form),
            client_secret=f"{intent_id}_secret_stub",
            created=int(time.time()),
            payment_method_types=[form.get("payment_method_types[0]", "card")],
        )
        self.add(intent)
        if behaviour in ("card_declined", "processing_error", "authentication_required"):
            error = {"code": behaviour}
            if behaviour == "card_declined":
                error = {"code": "card_declined", "decline_code": "insufficient_funds", **options}
            elif behaviour == "authentication_required":
                error["decline_code"] = behaviour
            message = DECLINE_MESSAGES.get(error.get("decline_code") or behaviour, "Declined.")
            intent.update(
                status="requires_payment_method",
                last_payment_error={"type": "card_error", "message": message, **error},
            )
            return _error(402, "card_error", message, payment_intent=intent, **error)
        status = behaviour if behaviour in ("processing", "requires_action") else "succeeded"
        intent["status"] = status
        if status == "requires_action":
            intent["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": "https://x"},
            }
            return 200, intent
        charge = self._charge_for(intent, options.get("risk_level", "normal"))
        intent["latest_charge"] = charge["id"]
        if status == "succeeded":
            intent["amount_received"] = amount
        return 200, self._expanded(intent, form)

    def _charge_for(self, intent: dict, risk_level: str) -> dict:
        charge = fixture("charge_ch_fakefakefakefakefake0001")
        charge.update(
            id=self.new_id("ch"),
            amount=intent["amount"],
            currency=intent["currency"],
            customer=intent["customer"],
            payment_intent=intent["id"],
            payment_method=intent["payment_method"],
            status="succeeded" if intent["status"] == "succeeded" else "pending",
            created=intent["created"],
            metadata=intent["metadata"],
        )
        charge["outcome"]["risk_level"] = risk_level
        return self.add(charge)

    def _refund_create(self, form, *, behaviour: str = "", **_) -> tuple[int, dict]:
        intent = self.objects.get(form.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _error(400, "invalid_request_error", "No succeeded charge to refund.")
        amount = int(form.get("amount") or intent["amount_received"])
        refunded = intent.setdefault("_refunded", 0)
        if amount > intent["amount_received"] - refunded:
            full = refunded >= intent["amount_received"]
            code = "charge_already_refunded" if full else "amount_too_large"
            return _error(400, "invalid_request_error", "Refund exceeds the charge.", code=code)
        intent["_refunded"] = refunded + amount
        refund = fixture("refund_re_fakefakefakefakefake0001")
        refund.update(
            id=self.new_id("re"),
            amount=amount,
            currency=intent["currency"],
            charge=intent["latest_charge"],
            payment_intent=intent["id"],
            metadata=_metadata(form),
            status=behaviour or "succeeded",
            created=int(time.time()),
        )
        return 200, self.add(refund)


class _Handler(BaseHTTPRequestHandler):
    owner: StripeStub

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        query = _flat(parse_qs(url.query, keep_blank_values=True))
        form = _flat(parse_qs(body, keep_blank_values=True))
        key = self.headers.get("Idempotency-Key", "")
        stub = self.owner
        stub.requests.append(Received(method, url.path, query, form, key, body))
        with stub._lock:
            status, payload, delay = stub.handle(method, url.path, query, form, key)
        payload = {k: v for k, v in payload.items() if not k.startswith("_")}
        if delay:
            time.sleep(delay)
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_stub")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)


@contextmanager
def stripe_stub_running(settings, monkeypatch, **options):
    """A started stub that the adapter (settings.STRIPE_API_HOST) and dj-stripe's own calls
    (stripe.api_base) both talk to, with a test secret key configured."""
    stub = StripeStub(**options).start()
    settings.STRIPE_API_HOST = stub.url
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_TEST_SECRET_KEY = TEST_SECRET_KEY
    monkeypatch.setattr(stripe, "api_base", stub.url)
    try:
        yield stub
    finally:
        stub.stop()
