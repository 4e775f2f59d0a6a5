"""Writes to customer accounts. Validation is complete before anything is saved."""

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.timezone import now

from customers import hooks
from customers.models import Contact, Customer, CustomerRole, CustomerUser, TaxIdStatus

ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "state", "country")
EDITABLE = {
    "name",
    "email",
    "timezone",
    "country",
    "tax_id",
    "tax_exempt",
    "metadata",
    "currency",
    "payment_terms_days",
    "invoice_delivery",
}
NULLABLE = {"payment_terms_days"}  # None stays None (the default terms), not ""
TAX_ID_INPUTS = ("tax_id", "country", "address_country")


def _apply_address(customer: Customer, address: dict | None) -> None:
    for key, value in (address or {}).items():
        if key not in ADDRESS_FIELDS:
            raise ValidationError(
                {f"address.{key}": ValidationError("Unknown address field.", code="unknown_field")}
            )
        setattr(customer, f"address_{key}", value or "")


def _full_clean(customer: Customer) -> None:
    try:
        customer.full_clean()
    except ValidationError as exc:
        renamed = {}
        for field, messages in exc.error_dict.items():
            if field.startswith("address_"):
                field = "address." + field.removeprefix("address_")
            renamed[field] = messages
        raise ValidationError(renamed) from exc


@transaction.atomic
def customer_create(
    *,
    external_id: str,
    name: str,
    email: str,
    currency: str,
    timezone: str = "UTC",
    country: str = "",
    tax_id: str = "",
    tax_exempt: str = "none",
    address: dict | None = None,
    metadata: dict | None = None,
    payment_terms_days: int | None = None,
    invoice_delivery: str = "email",
    at: datetime | None = None,
) -> Customer:
    customer = Customer(
        payment_terms_days=payment_terms_days,
        invoice_delivery=invoice_delivery or "email",
        external_id=external_id,
        name=name,
        email=email,
        currency=currency,
        timezone=timezone,
        country=country or "",
        tax_id=(tax_id or "").strip(),
        tax_exempt=tax_exempt or "none",
        metadata=metadata or {},
    )
    _apply_address(customer, address)
    if not customer.address_country and customer.country:
        customer.address_country = customer.country
    _full_clean(customer)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:  # created meanwhile by a concurrent request: as if checked above
        error = ValidationError("A customer with this external_id exists.", code="unique")
        raise ValidationError({"external_id": error}) from None
    if customer.tax_id:
        hooks.tax_id_changed.send(sender=Customer, customer=customer, at=at or now())
    return customer


@transaction.atomic
def customer_update(
    *, customer: Customer, address: dict | None = None, at: datetime | None = None, **changes: Any
) -> Customer:
    """Change a customer; a new VAT number (or billing country) is checked again."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    before = [getattr(customer, field) for field in TAX_ID_INPUTS]
    if customer.is_archived:
        raise ValidationError(
            ValidationError(
                "An archived customer cannot be changed; unarchive it first.", code="archived"
            )
        )
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationError(
            {sorted(unknown)[0]: ValidationError("This field cannot be changed.", code="read_only")}
        )
    for key, value in changes.items():
        setattr(customer, key, value if value is not None or key in NULLABLE else "")
    _apply_address(customer, address)
    customer.tax_id = (customer.tax_id or "").strip()
    _full_clean(customer)
    tax_id_changed = before != [getattr(customer, field) for field in TAX_ID_INPUTS]
    if tax_id_changed:
        customer.tax_id_status = TaxIdStatus.UNVERIFIED
    customer.save()
    if tax_id_changed:
        hooks.tax_id_changed.send(sender=Customer, customer=customer, at=at or now())
    return customer


@transaction.atomic
def customer_archive(*, customer: Customer, at: datetime) -> Customer:
    """Soft delete: history stays, the customer leaves default lists and cannot be billed anew."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.archived_at is None:
        customer.archived_at = at
        customer.save(update_fields=["archived_at", "updated_at"])
    return customer


@transaction.atomic
def customer_unarchive(*, customer: Customer) -> Customer:
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.archived_at is not None:
        customer.archived_at = None
        customer.save(update_fields=["archived_at", "updated_at"])
    return customer


def contact_create(
    *,
    customer: Customer,
    name: str,
    email: str,
    phone: str = "",
    role: str = "billing",
    receives_invoices: bool = True,
) -> Contact:
    contact = Contact(
        customer=customer,
        name=name,
        email=email,
        phone=phone,
        role=role,
        receives_invoices=receives_invoices,
    )
    contact.full_clean()
    contact.save()
    return contact


@transaction.atomic
def customer_user_add(
    *, customer: Customer, email: str, role: str = CustomerRole.MEMBER, password: str | None = None
) -> CustomerUser:
    """Link a login (made if new, username = email) to the customer with a role."""
    if role not in CustomerRole.values:
        raise ValidationError({"role": ValidationError("Unknown role.", code="invalid_choice")})
    user_model = get_user_model()
    user = user_model.objects.filter(username__iexact=email).first()
    if user is None:
        user = user_model(username=email.lower(), email=email.lower())
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean()
        user.save()
    membership, created = CustomerUser.objects.get_or_create(
        customer=customer, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership
