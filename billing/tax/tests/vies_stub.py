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
from dataclasses import dataclass, field

from billing.tax.tests.stub_server import StubResponse, StubServer

REQUEST_DATE = "2024-05-06T09:30:00.000Z"


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


class ViesStub(StubServer):
    path_prefix = "/taxation_customs/vies/rest-api"

    def default_answer(self) -> StubResponse:
        return server_error(500)

    def parse(self, method: str, path: str, headers: dict, raw: bytes) -> StubRequest:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return StubRequest(method=method, path=path, headers=headers, body=raw, json=parsed)

    def unknown(self, method: str, path: str) -> StubResponse | None:
        if method == "POST" and path.endswith("/check-vat-number"):
            return None
        return StubResponse(status=404, body={"error": "not found"})
