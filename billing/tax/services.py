"""Reads and writes of the seller's tax set-up, and the VAT number checks of customers.

`tax_setup()` loads what the pure engine needs (the seller with its registrations, staff's rate
overrides) in three queries; callers load it once per batch, not once per line.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django_q.tasks import async_task

from billing.events.services import Actor, billing_event_record
from billing.tax.engine import Buyer, Seller
from billing.tax.models import TaxRateOverride, TaxRegistration, TaxSettings
from billing.tax.rates import TaxRate
from billing.tax.vat_numbers import (
    EU_PREFIXES,
    OTHER_COUNTRY_MODULES,
    VIES_PREFIXES,
    ViesClient,
    vat_number_check,
    vat_number_normalize,
)
from customers.models import Customer, TaxIdStatus

SETTINGS_FIELDS = (
    "legal_name",
    "address",
    "email",
    "seller_country",
    "seller_region",
    "rounding",
    "eu_oss",
)


# The numbers python-stdnum can check: the EU's VAT numbers and GB, XI, AU, NZ, SG, IN, CA.
CHECKED_PREFIXES = EU_PREFIXES | set(OTHER_COUNTRY_MODULES)


@dataclass(frozen=True)
class TaxSetup:
    seller: Seller
    overrides: tuple[TaxRate, ...] = ()


def tax_settings() -> TaxSettings:
    """The seller's settings (made with the defaults on first use)."""
    found = TaxSettings.objects.filter(pk=1).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return TaxSettings.objects.create(pk=1)
    except IntegrityError:  # made meanwhile by a concurrent request
        return TaxSettings.objects.get(pk=1)


def tax_setup() -> TaxSetup:
    current = tax_settings()
    registrations = frozenset(TaxRegistration.objects.values_list("country", "region"))
    overrides = tuple(
        TaxRate(
            jurisdiction=o.jurisdiction,
            name=o.name,
            rate=o.rate,
            valid_from=o.valid_from,
            valid_to=o.valid_to,
            taxable_share=o.taxable_share,
            source=o.source,
        )
        for o in TaxRateOverride.objects.order_by("pk")
    )
    seller = Seller(
        country=current.seller_country,
        region=current.seller_region,
        registrations=registrations,
        eu_oss=current.eu_oss,
        rounding=current.rounding,
    )
    return TaxSetup(seller=seller, overrides=overrides)


def buyer_for(customer: Customer) -> Buyer:
    """The customer as the engine sees it: located by its billing address (falling back to its
    country); a business when its VAT/GST number is valid."""
    country = customer.address_country or customer.country
    region = (customer.address_state or "").strip().upper()
    if country not in ("US", "CA") or len(region) != 2:
        region = ""
    return Buyer(
        country=country,
        region=region,
        business=bool(customer.tax_id) and customer.tax_id_status == TaxIdStatus.VALID,
        tax_exempt=customer.tax_exempt,
    )


def seller_details() -> dict:
    """The seller's identity as an invoice shows it: name, address lines, email, tax numbers
    (blank fields fall back to `settings.INVOICE_SELLER`)."""
    current = tax_settings()
    configured = getattr(settings, "INVOICE_SELLER", {})
    address = current.address or configured.get("address", "")
    if isinstance(address, str):
        address = [line.strip() for line in address.splitlines() if line.strip()]
    numbers = [
        {"jurisdiction": f"{r.country}-{r.region}" if r.region else r.country, "number": r.number}
        for r in TaxRegistration.objects.exclude(number="").order_by("country", "region")
    ]
    return {
        "name": current.legal_name or configured.get("name", ""),
        "address": list(address),
        "email": current.email or configured.get("email", ""),
        "country": current.seller_country,
        "tax_numbers": numbers,
    }


def _clean(instance) -> None:
    """Field validation; uniqueness is checked by the caller, with a clearer message."""
    try:
        instance.full_clean(validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.error_dict) from None


@transaction.atomic
def tax_settings_update(*, at: datetime, actor: Actor = None, **changes) -> TaxSettings:
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationError({field: ValidationError("Not a tax setting.", code="unknown_field")})
    tax_settings()
    current = TaxSettings.objects.select_for_update().get(pk=1)
    for key, value in changes.items():
        setattr(current, key, value)
    if current.seller_country not in ("US", "CA"):
        current.seller_region = current.seller_region if current.seller_country else ""
    _clean(current)
    current.save()
    billing_event_record(
        kind="tax.settings_updated",
        subject=current,
        at=at,
        actor=actor,
        payload={key: changes[key] for key in sorted(changes)},
    )
    return current


@transaction.atomic
def tax_registration_create(
    *, country: str, region: str = "", number: str = "", at: datetime, actor: Actor = None
) -> TaxRegistration:
    region = (region or "").strip().upper()
    if region and country not in ("US", "CA"):
        raise ValidationError(
            {
                "region": ValidationError(
                    "Only US and Canadian registrations have a region.", code="invalid"
                )
            }
        )
    registration = TaxRegistration(country=country, region=region, number=(number or "").strip())
    _clean(registration)
    if TaxRegistration.objects.filter(country=country, region=region).exists():
        raise ValidationError(
            {
                "region" if region else "country": ValidationError(
                    "The seller is already registered there.", code="unique"
                )
            }
        )
    try:
        with transaction.atomic():
            registration.save()
    except IntegrityError:
        raise ValidationError(
            {"country": ValidationError("The seller is already registered there.", code="unique")}
        ) from None
    billing_event_record(
        kind="tax.registration_added",
        subject=registration,
        at=at,
        actor=actor,
        payload={"country": country, "region": region},
    )
    return registration


@transaction.atomic
def tax_registration_delete(
    *, registration: TaxRegistration, at: datetime, actor: Actor = None
) -> None:
    """Stop collecting there from now on (issued invoices keep their tax)."""
    billing_event_record(
        kind="tax.registration_removed",
        subject=registration,
        at=at,
        actor=actor,
        payload={"country": registration.country, "region": registration.region},
    )
    registration.delete()


def vies_client() -> ViesClient:
    return ViesClient(base_url=settings.VIES_BASE_URL, timeout=settings.VIES_TIMEOUT)


def customer_tax_id_check(
    *, customer: Customer, at: datetime, mode: str | None = None, client: ViesClient | None = None
) -> Customer:
    """Normalise and check the customer's VAT/GST number and store the answer with its
    evidence. `mode` defaults to `settings.VAT_VALIDATION`. A blank number is unverified."""
    mode = mode or settings.VAT_VALIDATION
    number = vat_number_normalize(customer.tax_id, customer.address_country or customer.country)
    if not customer.tax_id:
        status, checked_at, evidence = TaxIdStatus.UNVERIFIED, None, {}
    elif number[:2] not in CHECKED_PREFIXES:  # e.g. a US EIN: kept as given, not a VAT number
        number, status, checked_at = customer.tax_id, TaxIdStatus.UNVERIFIED, at
        evidence = {"detail": "no check for this country's numbers", "checked_at": at.isoformat()}
    else:
        if mode == "vies" and client is None:
            client = vies_client()
        check = vat_number_check(number, mode=mode, at=at, client=client)
        status, checked_at = check.status, check.checked_at or at
        evidence = {
            "source": check.source,
            "number": check.number,
            "status": check.status,
            "name": check.name,
            "address": check.address,
            "detail": check.detail,
            "checked_at": at.isoformat(),
        }
    Customer.objects.filter(pk=customer.pk).update(
        tax_id=number if customer.tax_id else "",
        tax_id_status=status,
        tax_id_checked_at=checked_at,
        tax_id_evidence=evidence,
    )
    customer.tax_id = number if customer.tax_id else ""
    customer.tax_id_status, customer.tax_id_checked_at = status, checked_at
    customer.tax_id_evidence = evidence
    return customer


def customer_tax_id_check_start(*, customer: Customer, at: datetime) -> Customer:
    """The check on a new number, inside the caller's transaction: syntax and check digits
    now; in `vies` mode an EU or XI number that passes them is `pending` until a worker asks
    VIES (its invoices are held as drafts meanwhile)."""
    customer = customer_tax_id_check(customer=customer, at=at, mode="checksum")
    needs_vies = (
        settings.VAT_VALIDATION == "vies"
        and customer.tax_id_status == TaxIdStatus.VALID
        and customer.tax_id[:2] in VIES_PREFIXES
    )
    if needs_vies:
        customer.tax_id_status = TaxIdStatus.PENDING
        customer.tax_id_evidence = {**customer.tax_id_evidence, "detail": "waiting for VIES"}
        Customer.objects.filter(pk=customer.pk).update(
            tax_id_status=customer.tax_id_status, tax_id_evidence=customer.tax_id_evidence
        )
        transaction.on_commit(
            partial(
                async_task, "billing.tax.tasks.customer_tax_id_vies_task", customer_id=customer.pk
            )
        )
    return customer


def customer_tax_id_vies(*, customer_id: int, at: datetime, client=None) -> str:
    """Ask VIES about a pending number; the answer (or `pending` again) is stored."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None or customer.tax_id_status != TaxIdStatus.PENDING:
            return "not pending"
        customer = customer_tax_id_check(customer=customer, at=at, mode="vies", client=client)
        return customer.tax_id_status


def tax_ids_pending_recheck(*, at: datetime, client=None) -> int:
    """Every pending number asked again, each in its own transaction; how many were answered."""
    answered = 0
    pending = Customer.objects.filter(tax_id_status=TaxIdStatus.PENDING).order_by("pk")
    for customer_id in pending.values_list("pk", flat=True):
        status = customer_tax_id_vies(customer_id=customer_id, at=at, client=client)
        answered += status in (TaxIdStatus.VALID, TaxIdStatus.INVALID)
    return answered


def tax_rate_override_overlapping(override: TaxRateOverride):
    """The other overrides of the same jurisdiction and name in force on a day `override` is
    ([valid_from, valid_to); an open end is unbounded)."""
    others = TaxRateOverride.objects.filter(
        jurisdiction=override.jurisdiction, name=override.name
    ).exclude(pk=override.pk)
    if override.valid_to is not None:
        others = others.filter(Q(valid_from__isnull=True) | Q(valid_from__lt=override.valid_to))
    if override.valid_from is not None:
        others = others.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=override.valid_from))
    return others.order_by("valid_from", "pk")


def tax_rate_override_errors(override: TaxRateOverride) -> ValidationError | None:
    clash = tax_rate_override_overlapping(override).first()
    if clash is None:
        return None
    period = f"{clash.valid_from or 'the start'} – {clash.valid_to or 'open end'}"
    return ValidationError(
        f"{clash} is in force on some of the same days ({period}): end it first, "
        "or start this one after it.",
        code="overlap",
    )


@transaction.atomic
def tax_rate_override_save(
    *, override: TaxRateOverride, at: datetime, actor: Actor = None
) -> TaxRateOverride:
    """Add or change a rate override: valid fields, never overlapping another of its
    jurisdiction and name; recorded in the event log."""
    _clean(override)
    error = tax_rate_override_errors(override)
    if error is not None:
        raise error
    created = override.pk is None
    override.save()
    billing_event_record(
        kind="tax.rate_override_added" if created else "tax.rate_override_changed",
        subject=override,
        at=at,
        actor=actor,
        payload={
            "jurisdiction": override.jurisdiction,
            "name": override.name,
            "rate": str(override.rate),
            "valid_from": override.valid_from.isoformat() if override.valid_from else None,
            "valid_to": override.valid_to.isoformat() if override.valid_to else None,
        },
    )
    return override
