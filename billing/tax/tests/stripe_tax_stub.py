"""A local stand-in for Stripe Tax's Calculations API, for tests.

http.server in a thread on 127.0.0.1 (random port). Each test scripts the answers; the last
one repeats once the script runs out. An answer is a StubResponse or a function of the request
(to echo its line items). Every request is recorded with its form fields.

    with StripeTaxStub() as stub:
        stub.script(server_error(500), calculated(line("0", 10000, 1900, [vat("DE", 19)])))
        calculator = StripeTaxCalculator(base_url=stub.base_url, key="sk_test_x", ...)

The JSON follows Stripe's API reference and its Standalone Tax API guide: a `tax.calculation`
with `line_items` (a list object: `data`, `has_more`, `url`) of `tax.calculation_line_item`s,
each with `amount` (tax included when tax_behavior=inclusive), `amount_tax` and, expanded,
`tax_breakdown` entries (`amount`, `jurisdiction{country,display_name,level,state}`,
`sourcing`, `tax_rate_details{display_name,percentage_decimal,tax_type}` or null,
`taxability_reason`, `taxable_amount`). Errors: `{"error": {"type", "code", "message", "param",
"doc_url"}}`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from billing.tax.tests.stub_server import StubResponse, StubServer

CALCULATION_ID = "taxcalc_1PStubStripeTax0001"


@dataclass
class StubRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict
    form: list[tuple[str, str]]

    def field(self, name: str) -> str | None:
        return next((value for key, value in self.form if key == name), None)

    def fields(self, name: str) -> list[str]:
        return [value for key, value in self.form if key == name]


def breakdown(
    amount: int,
    taxable: int,
    *,
    country: str,
    state: str | None = None,
    level: str = "country",
    display_name: str = "",
    rate: str | None = None,
    tax_type: str = "vat",
    rate_name: str = "",
    reason: str = "standard_rated",
) -> dict:
    """One line item tax_breakdown entry; `rate` None gives tax_rate_details null."""
    details = None
    if rate is not None:
        details = {"display_name": rate_name, "percentage_decimal": rate, "tax_type": tax_type}
    return {
        "amount": amount,
        "jurisdiction": {
            "country": country,
            "display_name": display_name or country,
            "level": level,
            "state": state,
        },
        "sourcing": "destination",
        "tax_rate_details": details,
        "taxability_reason": reason,
        "taxable_amount": taxable,
    }


def line(
    reference: str,
    amount: int,
    amount_tax: int,
    entries: list[dict],
    *,
    behavior: str = "exclusive",
    tax_code: str = "txcd_10103001",
) -> dict:
    return {
        "id": f"tax_li_{reference}",
        "object": "tax.calculation_line_item",
        "amount": amount,
        "amount_tax": amount_tax,
        "livemode": False,
        "product": None,
        "quantity": 1,
        "reference": reference,
        "tax_behavior": behavior,
        "tax_breakdown": entries,
        "tax_code": tax_code,
    }


def calculated(*items: dict, currency: str = "eur", has_more: bool = False) -> StubResponse:
    """A calculation answer with these line items (its top-level breakdown summed per rate)."""
    exclusive = sum(i["amount_tax"] for i in items if i["tax_behavior"] == "exclusive")
    inclusive = sum(i["amount_tax"] for i in items if i["tax_behavior"] == "inclusive")
    return StubResponse(
        body={
            "id": CALCULATION_ID,
            "object": "tax.calculation",
            "amount_total": sum(i["amount"] for i in items) + exclusive,
            "currency": currency,
            "customer": None,
            "expires_at": 1767225600,
            "line_items": {
                "object": "list",
                "data": list(items),
                "has_more": has_more,
                "total_count": len(items),
                "url": f"/v1/tax/calculations/{CALCULATION_ID}/line_items",
            },
            "livemode": False,
            "ship_from_details": None,
            "shipping_cost": None,
            "tax_amount_exclusive": exclusive,
            "tax_amount_inclusive": inclusive,
            "tax_breakdown": [],
            "tax_date": 1767225600,
        }
    )


def page(*items: dict, has_more: bool = False) -> StubResponse:
    """An answer of GET /v1/tax/calculations/{id}/line_items."""
    return StubResponse(
        body={
            "object": "list",
            "data": list(items),
            "has_more": has_more,
            "url": f"/v1/tax/calculations/{CALCULATION_ID}/line_items",
        }
    )


def error_answer(
    status: int, message: str, *, code: str = "", param: str = "", kind="invalid_request_error"
) -> StubResponse:
    error = {"message": message, "type": kind}
    if code:
        error |= {"code": code, "doc_url": f"https://docs.stripe.com/error-codes/{code}"}
    if param:
        error["param"] = param
    return StubResponse(status=status, body={"error": error})


def server_error(status: int = 500, headers: dict | None = None) -> StubResponse:
    response = error_answer(status, "An unknown error occurred", kind="api_error")
    response.headers = dict(headers or {})
    return response


def slow(response: StubResponse, delay: float) -> StubResponse:
    return StubResponse(response.status, response.body, delay, response.headers)


Answer = StubResponse | Callable[[StubRequest], StubResponse]


class StripeTaxStub(StubServer):
    def default_answer(self) -> StubResponse:
        return server_error(500)

    def parse(self, method: str, path: str, headers: dict, raw: bytes) -> StubRequest:
        parts = urlsplit(path)
        return StubRequest(
            method=method,
            path=parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=headers,
            form=parse_qsl(raw.decode(), keep_blank_values=True),
        )

    def unknown(self, method: str, path: str) -> StubResponse | None:
        path = urlsplit(path).path
        known = (method == "POST" and path == "/v1/tax/calculations") or (
            method == "GET" and path.endswith("/line_items")
        )
        return None if known else error_answer(404, f"Unrecognized request URL ({path}).")
