from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import reverse

from billing.events.services import billing_event_record
from billing.models import BillingEvent
from customers.services import customer_create

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def event(db):
    customer = customer_create(external_id="acme", name="Acme", email="a@acme.test", currency="USD")
    with transaction.atomic():
        return billing_event_record(
            kind="customer.created",
            subject=customer,
            at=AT,
            payload={"amount": "1.50", "lines": [1, 2]},
        )


def url(view, *args):
    return reverse(f"admin:billing_billingevent_{view}", args=args)


@pytest.mark.parametrize(
    "model", [m for m in admin.site._registry if m._meta.app_label == "billing"]
)
def test_changelist_and_search(admin_client, event, model):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client.get(changelist, {"q": "x"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"q": "acme"}, 1),
        ({"q": "customer.created"}, 1),
        ({"q": "nothing"}, 0),
        ({"kind": "customer.created"}, 1),
        ({"occurred_at__year": "2026"}, 1),
    ],
)
def test_filters_and_search(admin_client, event, params, count):
    assert admin_client.get(url("changelist"), params).context["cl"].result_count == count


def test_detail_shows_pretty_payload(admin_client, event):
    response = admin_client.get(url("change", event.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<pre>{\n  &quot;amount&quot;: &quot;1.50&quot;," in page
    assert 'name="_save"' not in page


def test_add_change_and_delete_are_refused(admin_client, event):
    assert admin_client.get(url("add")).status_code == 403
    assert admin_client.post(url("change", event.pk), {"kind": "forged"}).status_code == 403
    assert admin_client.get(url("delete", event.pk)).status_code == 403
    assert admin_client.post(url("delete", event.pk), {"post": "yes"}).status_code == 403
    assert admin_client.get(url("changelist")).context["action_form"] is None  # no actions
    assert BillingEvent.objects.get(pk=event.pk).kind == "customer.created"
