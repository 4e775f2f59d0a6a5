"""A user of customer A can never see or touch anything of customer B: every portal URL
that names an object answers 404 for another customer's object, whatever the method, and
the object is left as it was. A new portal URL with an id must be added to OBJECTS."""

from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from billing.invoicing.services.credits import credit_note_issue
from billing.payments.services.payments import payment_collect
from billing.tests.payment_helpers import card, open_invoice
from customers.models import CustomerRole
from provisioning.services.keys import service_key_create
from provisioning.services.seats import seat_assign

# URL name → the kind of globex object its `pk` names.
OBJECTS = {
    "invoice_pdf": "invoice",
    "invoice_pay": "invoice",
    "credit_note_pdf": "credit_note",
    "payment": "payment",
    "payment_method_default": "method",
    "payment_method_remove": "method",
    "subscription": "subscription",
    "subscription_preview": "subscription",
    "subscription_change": "subscription",
    "subscription_cancel": "subscription",
    "subscription_keep": "subscription",
    "subscription_pause": "subscription",
    "subscription_resume": "subscription",
    "team_role": "member",
    "team_remove": "member",
    "seat_unassign": "seat",
    "api_key_rotate": "key",
    "api_key_revoke": "key",
    "api_key_reveal": "key",
}


def portal_routes(patterns=None, prefix=""):
    """(name, has_arguments) of every route in the portal namespace."""
    if patterns is None:
        patterns = get_resolver().namespace_dict["portal"][1].url_patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from portal_routes(entry.url_patterns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield entry.name, bool(entry.pattern.converters)


def test_every_portal_url_with_an_id_is_checked_here():
    with_ids = {name for name, has_args in portal_routes() if has_args}
    with_ids -= {"password_reset_confirm"}  # a signed token, not an object id
    assert with_ids == set(OBJECTS)


@pytest.fixture
def globex_objects(globex, catalog):
    customer, now = globex.customer, timezone.now()
    method = card(customer, at=now)
    invoice = open_invoice(customer, "40.00", at=now)
    paid = open_invoice(customer, "15.00", at=now)
    payment = payment_collect(invoice=paid, at=now)
    note = credit_note_issue(invoice=invoice, at=now, reason="duplicate", lines=None)
    member = globex.user(CustomerRole.MEMBER)
    seat = seat_assign(customer=customer, feature=catalog.seats, user=member, at=now)
    key, _ = service_key_create(customer=customer, name="prod", scopes=["read"], at=now)
    return {
        "invoice": invoice,
        "credit_note": note,
        "payment": payment,
        "method": method,
        "subscription": globex.subscription,
        "member": globex.owner,
        "seat": seat,
        "key": key,
    }


def snapshot(obj) -> dict:
    obj.refresh_from_db()
    return {k: v for k, v in model_to_dict(obj).items() if not isinstance(v, Decimal)} | {
        k: str(v) for k, v in model_to_dict(obj).items() if isinstance(v, Decimal)
    }


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_another_customers_object_is_404_and_unchanged(acme, globex_objects, name):
    target = globex_objects[OBJECTS[name]]
    before = snapshot(target)
    url = reverse(f"portal:{name}", kwargs={"pk": target.pk})
    client = acme.client(CustomerRole.OWNER)
    answers = {
        "GET": client.get(url).status_code,
        "POST": client.post(
            url, {"role": "viewer", "reason": "other", "when": "now", "confirm": "yes"}
        ).status_code,
    }
    assert set(answers.values()) <= {404, 405}, answers
    assert 404 in answers.values(), answers
    assert snapshot(target) == before


def test_the_owner_of_those_objects_can_reach_them(globex, globex_objects):
    """The same URLs work for globex itself, so the 404s above are about ownership."""
    client = globex.client(CustomerRole.OWNER)
    for name in ("invoice_pdf", "credit_note_pdf", "payment", "subscription"):
        target = globex_objects[OBJECTS[name]]
        response = client.get(reverse(f"portal:{name}", kwargs={"pk": target.pk}))
        assert response.status_code == 200, name
