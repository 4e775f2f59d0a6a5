"""Stripe Tax as the tax engine (`settings.TAX_ENGINE = "stripe_tax"`): one Tax Calculation per
sale, `POST {TAX_ENGINE_URL}/v1/tax/calculations`, its line items mapped back to `LineTax`.

Relied on in Stripe's documentation (read through the docs search):
- API reference, Create a Tax Calculation (docs.stripe.com/api/tax/calculations/create, and the
  SDKs generated from Stripe's OpenAPI spec): form fields `currency` (lowercase),
  `line_items[i][amount|reference|tax_behavior|tax_code]`, `customer_details[address][...]`,
  `[address_source]`, `[tax_ids][i][type|value]`, `[taxability_override]` (none |
  customer_exempt | reverse_charge), `expand[]`; `tax_date` "can be up to 48 hours in the past,
  and up to 48 hours in the future"; line item `amount`, `amount_tax`, `reference`,
  `tax_behavior`, list `has_more`/`url` (GET .../line_items pages the rest); the taxability
  reasons (may be extended) and tax types (vat, gst, hst, pst, qst, rst, igst, jct, sales_tax..).
- Standalone Tax API guide (docs.stripe.com/tax/standalone-tax-api): a line item's
  `tax_breakdown` comes only with `expand[]=line_items.data.tax_breakdown`; an entry has
  `amount`, `taxable_amount`, `jurisdiction{country,state,level,display_name}`,
  `taxability_reason`, `tax_rate_details{display_name,percentage_decimal,tax_type}` (null where
  no tax is imposed). With tax_behavior=inclusive the line's `amount` INCLUDES the tax (10000
  EUR at 23%: amount_tax 1870, taxable_amount 8130), so net = amount - amount_tax. Errors are
  `{"error": {"type", "code", "message", "param", "doc_url"}}`; Errors page: 429, 5xx.
- Supported currencies (docs.stripe.com/currencies): amounts in the minor unit; zero-decimal
  JPY, KRW, ...; three-decimal BHD, JOD, KWD, OMR, TND in thousandths; ISK with two decimals.
  Its "last digit must be 0" rule is for payment flows (PaymentIntents, Refunds, Disputes), not
  tax calculations, so amounts are sent exactly.
"""

import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import requests
from django.conf import settings

from billing.tax.calculators import Sale, TaxableLine, TaxEngineError
from billing.tax.engine import REVERSE_CHARGE_NOTE, REVERSE_CHARGE_NOTE_OTHER, LineTax, TaxAmount
from billing.tax.rates import EU_COUNTRIES
from billing.tax.vat_numbers import VIES_PREFIXES
from catalog.money import round_money

logger = logging.getLogger(__name__)

# Stripe product tax codes (list: docs.stripe.com/tax/tax-codes, not itself in the corpus):
# txcd_10103001 "Software as a Service (SaaS) - Business Use" (docs.stripe.com/tax/
# digital-products); txcd_20030000 "General - Services" (Standalone Tax API guide);
# txcd_10000000 in the API reference's own calculation example ("General - Electronically
# Supplied Services" per third-party pages citing Stripe); txcd_00000000 "the non-taxable
# product tax code" (taxability_reason not_collecting in the API reference).
TAX_CODES = {
    "saas": "txcd_10103001",
    "digital": "txcd_10000000",
    "services": "txcd_20030000",
    "exempt": "txcd_00000000",
}
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
TAX_NAMES = {"vat": "VAT", "gst": "GST", "hst": "HST", "pst": "PST", "qst": "QST", "rst": "RST"}
TAX_NAMES |= {"igst": "IGST", "jct": "JCT", "sales_tax": "sales_tax"}  # others: Stripe's name
# Stripe's taxability reasons to ours; any other (standard_rated, reduced_rated, zero_rated,
# portion_*, proportionally_rated, taxable_basis_reduced, new ones): tax imposed, "standard".
REASONS = {"reverse_charge": "reverse_charge", "not_collecting": "not_collecting"}
REASONS |= {"not_supported": "not_collecting", "not_subject_to_tax": "exempt"}
REASONS |= dict.fromkeys(("customer_exempt", "product_exempt", "product_exempt_holiday"), "exempt")
OVERRIDES = {"exempt": "customer_exempt", "reverse": "reverse_charge"}
TAX_ID_TYPES = {"GB": "gb_vat", "AU": "au_abn", "NZ": "nz_gst", "IN": "in_gst", "SG": "sg_uen"}
TAX_DATE_WINDOW = timedelta(hours=47)  # Stripe: 48 h either way; an hour spare for clock skew
MAX_RETRY_AFTER = 2.0  # seconds we wait when Stripe asks; longer: fail now, the run retries
DEFAULT_BACKOFF = 0.5
PAGE_SIZE = 100


def stripe_exponent(currency: str) -> int:
    """Stripe's minor unit: JPY 0, KWD 3, everything else (ISK included) 2."""
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def to_stripe_minor(amount: Decimal, currency: str) -> int:
    exponent = stripe_exponent(currency)
    value = round_money(amount, currency).quantize(
        Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP
    )
    return int(value.scaleb(exponent))


def from_stripe_minor(value: object, currency: str, field: str) -> Decimal:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TaxEngineError(f"Stripe Tax answered a non-integer {field}: {value!r}")
    return round_money(Decimal(value).scaleb(-stripe_exponent(currency)), currency)


def stripe_tax_id(number: str) -> tuple[str, str] | None:
    """Stripe's (type, value) for our normalised number (2-letter prefix), None if unknown."""
    prefix, rest = number[:2], number[2:]
    if not rest:
        return None
    if prefix in VIES_PREFIXES:  # the member states (EL for Greece) and Northern Ireland (XI)
        return "eu_vat", number
    if prefix == "GB":
        return "gb_vat", number
    if prefix == "CA":
        return ("ca_gst_hst" if re.fullmatch(r"\d{9}RT\d{4}", rest) else "ca_bn"), rest
    kind = TAX_ID_TYPES.get(prefix)
    return (kind, rest) if kind else None


def _region_code(country: str, state: str | None) -> str:
    return f"{country}-{state}" if country in ("US", "CA") and state else country


class StripeTaxCalculator:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        key: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
    ):
        self.base_url = (base_url or settings.TAX_ENGINE_URL).rstrip("/")
        self.key = settings.TAX_ENGINE_KEY if key is None else key
        self.timeout = timeout or settings.TAX_ENGINE_TIMEOUT
        self.session = session or requests.Session()
        self.sleep = sleep
        self.now = now or (lambda: datetime.now(UTC))

    def calculate(self, sale: Sale, lines: list[TaxableLine]) -> list[LineTax]:
        if not lines:
            return []
        if not self.key:
            raise TaxEngineError("TAX_ENGINE_KEY is not set: Stripe Tax needs a secret key.")
        refs = [line.reference or str(i) for i, line in enumerate(lines)]
        if len(set(refs)) != len(refs):  # answers are matched by reference
            refs = [f"{i}:{ref}" for i, ref in enumerate(refs)]
        answer = self._request("POST", "/v1/tax/calculations", data=self._form(sale, lines, refs))
        try:
            items = {item.get("reference"): item for item in self._line_items(answer)}
            missing = [ref for ref in refs if ref not in items]
            if missing:
                raise TaxEngineError(f"Stripe Tax answered no line item for references {missing}.")
            pairs = zip(lines, refs, strict=True)
            return [self._line_tax(sale, line, items[ref]) for line, ref in pairs]
        except (AttributeError, TypeError) as exc:  # a list or a string where an object goes
            raise TaxEngineError(f"Stripe Tax answered a malformed calculation: {exc}") from None

    def _form(self, sale: Sale, lines: list[TaxableLine], refs: list[str]) -> list[tuple]:
        noon = datetime(sale.on.year, sale.on.month, sale.on.day, 12, tzinfo=UTC)
        if abs(noon - self.now()) > TAX_DATE_WINDOW:
            raise TaxEngineError(
                f"Tax point {sale.on} is over 48 h away (Stripe's tax_date limit)."
            )
        buyer, form = sale.buyer, [("currency", sale.currency.lower())]
        form.append(("tax_date", int(noon.timestamp())))
        for i, (line, ref) in enumerate(zip(lines, refs, strict=True)):
            if line.behavior not in ("exclusive", "inclusive"):
                raise ValueError(f"tax_behavior is exclusive or inclusive, not {line.behavior!r}.")
            if line.tax_code not in TAX_CODES:
                raise TaxEngineError(f"No Stripe tax code for our tax code {line.tax_code!r}.")
            form += [
                (f"line_items[{i}][amount]", to_stripe_minor(line.amount, sale.currency)),
                (f"line_items[{i}][reference]", ref),
                (f"line_items[{i}][tax_behavior]", line.behavior),
                (f"line_items[{i}][tax_code]", TAX_CODES[line.tax_code]),
            ]
        details = {
            "customer_details[address][country]": buyer.country,
            "customer_details[address][state]": buyer.region,
            "customer_details[address][postal_code]": sale.postal_code,
            "customer_details[address_source]": "billing",
            "customer_details[taxability_override]": OVERRIDES.get(buyer.tax_exempt, ""),
        }
        tax_id = stripe_tax_id(sale.tax_id) if sale.tax_id else None
        if tax_id:
            details["customer_details[tax_ids][0][type]"] = tax_id[0]
            details["customer_details[tax_ids][0][value]"] = tax_id[1]
        form += [(name, value) for name, value in details.items() if value]
        return form + [("expand[]", "line_items"), ("expand[]", "line_items.data.tax_breakdown")]

    def _line_items(self, answer: dict) -> Iterator[dict]:
        listing = answer.get("line_items")
        while True:
            if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
                raise TaxEngineError("Stripe Tax answered a calculation without line_items.")
            items = [item for item in listing["data"] if isinstance(item, dict)]
            yield from items
            url = listing.get("url")
            if not listing.get("has_more") or not items:
                return
            if not isinstance(url, str) or not url.startswith("/v1/"):
                raise TaxEngineError("Stripe Tax answered has_more without a line_items url.")
            params = [("limit", PAGE_SIZE), ("starting_after", items[-1].get("id"))]
            listing = self._request(
                "GET", url, params=params + [("expand[]", "data.tax_breakdown")]
            )

    def _line_tax(self, sale: Sale, line: TaxableLine, item: dict) -> LineTax:
        currency, buyer = sale.currency, sale.buyer
        amount = from_stripe_minor(item.get("amount"), currency, "amount")
        tax = from_stripe_minor(item.get("amount_tax"), currency, "amount_tax")
        inclusive = (item.get("tax_behavior") or line.behavior) == "inclusive"
        net = round_money(amount - tax if inclusive else amount, currency)
        entries = item.get("tax_breakdown")
        entries = [] if entries is None and tax == 0 else entries
        if not isinstance(entries, list):
            raise TaxEngineError(f"Stripe Tax answered line {line.reference!r} without breakdown.")
        amounts = [
            from_stripe_minor(e.get("amount"), currency, "breakdown amount") for e in entries
        ]
        if sum(amounts, Decimal(0)) != tax:
            raise TaxEngineError(
                f"Stripe Tax's breakdown of line {line.reference!r} adds up to {sum(amounts)}, "
                f"not its amount_tax {tax}."
            )
        reasons = [REASONS.get(e.get("taxability_reason"), "standard") for e in entries]
        taxes = tuple(
            self._component(sale, entry, entry_amount)
            for entry, entry_amount, reason in zip(entries, amounts, reasons, strict=True)
            if reason == "standard" and isinstance(entry.get("tax_rate_details"), dict)
        )
        fallback = {"exempt": "exempt", "reverse": "reverse_charge"}.get(
            buyer.tax_exempt, "exempt" if line.tax_code == "exempt" else "not_collecting"
        )
        order = ("reverse_charge", "exempt", "not_collecting")
        reason = "standard" if taxes else next((r for r in order if r in reasons), fallback)
        note = ""
        if reason == "reverse_charge":
            in_eu = buyer.country in EU_COUNTRIES
            note = REVERSE_CHARGE_NOTE if in_eu else REVERSE_CHARGE_NOTE_OTHER
        region = _region_code(buyer.country, buyer.region)
        return LineTax(net=net, taxes=taxes, reason=reason, note=note, jurisdiction=region)

    @staticmethod
    def _component(sale: Sale, entry: dict, amount: Decimal) -> TaxAmount:
        details, place = entry["tax_rate_details"], entry.get("jurisdiction") or {}
        country = place.get("country") or sale.buyer.country
        own = sale.buyer.region if country == sale.buyer.country else ""
        try:
            rate = Decimal(str(details.get("percentage_decimal")))
        except InvalidOperation:
            raise TaxEngineError(f"Stripe Tax answered a bad rate: {details!r}") from None
        kind = details.get("tax_type") or "sales_tax"
        taxable = entry.get("taxable_amount")
        return TaxAmount(
            name=TAX_NAMES.get(kind, kind),
            jurisdiction=_region_code(country, place.get("state") or own),  # GST in QC: CA-QC
            rate=rate,
            taxable_amount=from_stripe_minor(taxable, sale.currency, "taxable_amount"),
            amount=amount,  # Stripe answers rounded amounts only
            rounded=amount,
            reason="standard",
        )

    def _request(self, method: str, path: str, **kwargs) -> dict:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self.key}"}
        for attempt in (1, 2):
            try:
                response = self.session.request(
                    method, url, headers=headers, timeout=self.timeout, **kwargs
                )
            except requests.Timeout:
                raise TaxEngineError(
                    f"Stripe Tax did not answer within {self.timeout} s ({method} {path})."
                ) from None
            except requests.ConnectionError as exc:
                if attempt == 1:
                    logger.warning("Stripe Tax unreachable (%s), retrying once", type(exc).__name__)
                    self.sleep(DEFAULT_BACKOFF)
                    continue
                raise TaxEngineError(self._scrub(f"Stripe Tax is unreachable: {exc}")) from None
            status = response.status_code
            if status == 429 or status >= 500:
                wait = self._retry_after(response)
                if attempt == 1 and wait is not None:
                    logger.warning("Stripe Tax answered %s, retrying once in %s s", status, wait)
                    self.sleep(wait)
                    continue
                raise TaxEngineError(self._error(response, "is unavailable"))
            if status >= 300:
                raise TaxEngineError(self._error(response, "refused the request"))
            try:
                body = response.json()
            except ValueError:
                raise TaxEngineError(f"Stripe Tax answered {status} without JSON.") from None
            if not isinstance(body, dict):
                raise TaxEngineError(f"Stripe Tax answered {status} with JSON that is no object.")
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        """Seconds to wait before the retry; None when Stripe asks for longer than we wait."""
        raw = response.headers.get("Retry-After")
        if raw is None:
            return DEFAULT_BACKOFF
        try:
            wait = max(0.0, float(raw))
        except ValueError:
            return None  # an HTTP date: not a short wait
        return wait if wait <= MAX_RETRY_AFTER else None

    def _error(self, response: requests.Response, what: str) -> str:
        text = f"Stripe Tax {what} (HTTP {response.status_code})"
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        if isinstance(error, dict) and error.get("message"):
            kind = "/".join(str(error[k]) for k in ("type", "code") if error.get(k))
            text += f" {kind}: {error['message']}" if kind else f": {error['message']}"
            if error.get("param"):
                text += f" (param {error['param']})"
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        return text.replace(self.key, "[key]") if self.key else text
