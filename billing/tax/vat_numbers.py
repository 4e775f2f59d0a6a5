"""VAT numbers: normalising them, checking their syntax and check digits with python-stdnum,
and asking the EU's VIES service whether an EU (or Northern Ireland) number is registered.

`vat_number_check(number, mode=..., at=...)` answers with a `VatCheck`:

- mode "checksum": syntax and check digits only (stdnum) -> "valid" or "invalid".
- mode "vies": the same first (a number with bad check digits is "invalid" without asking
  anyone); then, for EU member-state prefixes and XI, VIES is asked. Its answer valid/invalid
  becomes the status (with the registered name/address and `checked_at`). When VIES can't
  answer (timeout, connection error, 5xx, MS_UNAVAILABLE and friends) the status is
  "pending" with the reason in `detail`: never silently valid or invalid. Numbers of other
  countries (GB, AU, ...) get the checksum result.

Country prefixes: Greece is EL for VAT (never GR); Northern Ireland is XI (a UK number
traded under the Protocol, checked by VIES, same format as GB; never turned into GB).
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import requests
from stdnum.au import abn as au_abn
from stdnum.ca import bn as ca_bn
from stdnum.eu import vat as eu_vat
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin as in_gstin
from stdnum.nz import ird as nz_ird
from stdnum.sg import uen as sg_uen

from billing.tax.rates import EU_COUNTRIES

VIES_BASE_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"

# VAT number prefixes of the EU member states: their ISO codes, but EL for Greece.
EU_PREFIXES = frozenset("EL" if country == "GR" else country for country in EU_COUNTRIES)
# The prefixes VIES answers for: the member states and Northern Ireland (XI).
VIES_PREFIXES = EU_PREFIXES | {"XI"}

# Countries outside the EU whose tax/business numbers stdnum can check. Each module gets the
# number without our 2-letter prefix.
OTHER_COUNTRY_MODULES = {
    "GB": gb_vat,
    "XI": gb_vat,  # Northern Ireland numbers share GB's format: check the digits after XI
    "AU": au_abn,
    "NZ": nz_ird,
    "SG": sg_uen,
    "IN": in_gstin,
    "CA": ca_bn,
}

# VIES user errors meaning "can't answer now, ask again later" (retried, then "pending").
VIES_UNAVAILABLE_ERRORS = frozenset(
    {
        "MS_UNAVAILABLE",
        "SERVICE_UNAVAILABLE",
        "MS_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ",
        "TIMEOUT",
    }
)
# Values of `userError` that are an answer, not an error (the /ms/{cc}/vat/{number} shape).
VIES_ANSWER_CODES = frozenset({"VALID", "INVALID"})

STATUS_VALID = "valid"
STATUS_INVALID = "invalid"
STATUS_PENDING = "pending"
SOURCE_CHECKSUM = "checksum"
SOURCE_VIES = "vies"
MODES = ("checksum", "vies")

_STRIP = re.compile(r"[\s.\-]+")


def vat_number_normalize(number: str, country: str | None = None) -> str:
    """Uppercase, without spaces, dots and dashes, with a 2-letter country prefix.

    A number without a prefix gets `country`'s. Greece is EL (GR... becomes EL...), Northern
    Ireland stays XI.
    """
    compact = _STRIP.sub("", number).upper()
    if not (len(compact) >= 2 and compact[:2].isascii() and compact[:2].isalpha()) and country:
        compact = _STRIP.sub("", country).upper() + compact
    if compact.startswith("GR"):
        compact = "EL" + compact[2:]
    return compact


def vat_number_check_syntax(number: str) -> bool:
    """Format and check digits (stdnum) of a number with its country prefix. Unknown
    countries: False."""
    number = vat_number_normalize(number)
    prefix, rest = number[:2], number[2:]
    if not rest:
        return False
    if prefix in EU_PREFIXES:
        return eu_vat.is_valid(number)
    module = OTHER_COUNTRY_MODULES.get(prefix)
    if module is None:
        return False
    return module.is_valid(rest)


@dataclass(frozen=True)
class VatCheck:
    number: str  # normalised, with its country prefix
    status: str  # "valid" | "invalid" | "pending"
    checked_at: datetime | None  # when VIES answered; None for checksum-only results
    name: str = ""  # as registered in VIES ("" when not given)
    address: str = ""
    source: str = SOURCE_CHECKSUM  # "checksum" | "vies"
    detail: str = ""  # why: "bad check digits", the VIES error, ...


class ViesError(Exception):
    """VIES gave no usable answer (e.g. it refused the request: INVALID_INPUT, IP_BLOCKED)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ViesUnavailable(ViesError):
    """VIES couldn't answer now (timeout, connection error, 5xx, MS_UNAVAILABLE, ...), also
    after the retries: ask again later."""


class ViesClient:
    """Client for the VIES REST API: `POST {base_url}/check-vat-number`.

    A plain `requests` client on purpose: VIES is a fixed URL from our configuration, not one a
    user chose, so `api.outbound` (the SSRF-safe client for user-chosen URLs) isn't needed.
    """

    def __init__(
        self,
        base_url: str = VIES_BASE_URL,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.5,
        *,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.session = session or requests.Session()

    def check(self, country_code: str, vat_number: str) -> dict:
        """VIES's answer for one number (`valid` is a bool; `name`, `address`,
        `requestDate`, ...). Retries what may pass (timeouts, connection errors, 5xx, the
        "unavailable" user errors) `retries` times, waiting `backoff`, 2x`backoff`, ...;
        then raises `ViesUnavailable`. Other errors raise `ViesError` at once."""
        url = f"{self.base_url}/check-vat-number"
        payload = {"countryCode": country_code, "vatNumber": vat_number}
        attempt = 0
        while True:
            try:
                return self._check_once(url, payload)
            except ViesUnavailable as exc:
                if attempt >= self.retries:
                    raise ViesUnavailable(f"{exc.reason} (after {attempt + 1} attempts)") from exc
            self.sleep(self.backoff * (2**attempt))
            attempt += 1

    def _check_once(self, url: str, payload: dict) -> dict:
        try:
            response = self.session.post(url, json=payload, timeout=self.timeout)
        except requests.Timeout as exc:
            raise ViesUnavailable("TIMEOUT: no answer from VIES in time") from exc
        except requests.ConnectionError as exc:
            raise ViesUnavailable(f"CONNECTION_ERROR: {exc.__class__.__name__}") from exc
        except requests.RequestException as exc:
            raise ViesError(f"REQUEST_ERROR: {exc.__class__.__name__}") from exc

        try:
            body = response.json()
        except ValueError:
            body = None
        error = _vies_error(body)
        if error is not None:
            if error.split(":", 1)[0] in VIES_UNAVAILABLE_ERRORS:
                raise ViesUnavailable(error)
            raise ViesError(error)
        if response.status_code >= 500:
            raise ViesUnavailable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ViesError(f"HTTP {response.status_code}")
        if not isinstance(body, dict) or not isinstance(body.get("valid"), bool):
            raise ViesError(f"unexpected answer (HTTP {response.status_code})")
        return body


def _vies_error(body: object) -> str | None:
    """The error a VIES answer carries: `userError` (other than VALID/INVALID) or the REST
    API's error shape `{"actionSucceed": false, "errorWrappers": [{"error": ...}]}`."""
    if not isinstance(body, dict):
        return None
    user_error = body.get("userError")
    if isinstance(user_error, str) and user_error and user_error not in VIES_ANSWER_CODES:
        return user_error
    wrappers = body.get("errorWrappers")
    if isinstance(wrappers, list) and wrappers:
        first = wrappers[0] if isinstance(wrappers[0], dict) else {}
        code = str(first.get("error") or "UNKNOWN_ERROR")
        message = first.get("message")
        return f"{code}: {message}" if message else code
    if body.get("actionSucceed") is False:
        return "UNKNOWN_ERROR"
    return None


def _vies_text(value: object) -> str:
    """VIES says "---" for a name/address it doesn't give."""
    text = str(value or "").strip()
    return "" if text == "---" else text


def vat_number_check(
    number: str, *, mode: str, at: datetime, client: ViesClient | None = None
) -> VatCheck:
    """Check a VAT number (see the module docstring). `at` (aware) becomes `checked_at` of a
    VIES answer."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    number = vat_number_normalize(number)
    if not vat_number_check_syntax(number):
        return VatCheck(
            number=number,
            status=STATUS_INVALID,
            checked_at=None,
            source=SOURCE_CHECKSUM,
            detail="bad format or check digits",
        )
    checksum_valid = VatCheck(
        number=number, status=STATUS_VALID, checked_at=None, source=SOURCE_CHECKSUM
    )
    prefix = number[:2]
    if mode == "checksum" or prefix not in VIES_PREFIXES:
        return checksum_valid

    client = client or ViesClient()
    try:
        answer = client.check(prefix, number[2:])
    except ViesError as exc:
        return VatCheck(
            number=number,
            status=STATUS_PENDING,
            checked_at=None,
            source=SOURCE_VIES,
            detail=exc.reason,
        )
    valid = answer["valid"]
    return VatCheck(
        number=number,
        status=STATUS_VALID if valid else STATUS_INVALID,
        checked_at=at,
        name=_vies_text(answer.get("name")),
        address=_vies_text(answer.get("address")),
        source=SOURCE_VIES,
        detail="registered in VIES" if valid else "not registered in VIES",
    )
