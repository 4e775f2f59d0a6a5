"""Bank transfers through the API (`/bank-transfers/`) and the admin (add form, actions,
statement import): each makes one service call, and refusals are 400/422 bodies or
messages, never 500s."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from billing.models import BankTransfer, Invoice, Payment
from billing.payments.services.bank_transfers import bank_transfer_record
from billing.tests import factories
from billing.tests.payment_helpers import AT, open_invoice

pytestmark = pytest.mark.django_db
D = Decimal
URL = "/api/v1/bank-transfers/"


@pytest.fixture
def customer():
    return factories.customer(external_id="acme-42")


@pytest.fixture
def invoice(customer):
    return open_invoice(customer, "25.00")


def body(**changes) -> dict:
    return {
        "bank_reference": "TX-1",
        "amount": "25.00",
        "currency": "USD",
        "received_at": "2026-03-12T09:00:00Z",
        "payer_name": "ACME Corp",
        "remittance": "",
        **changes,
    }


def unmatched(reference="TX-1", amount="25.00", remittance="who?") -> BankTransfer:
    transfer, _ = bank_transfer_record(
        bank_reference=reference,
        amount=D(amount),
        currency="USD",
        received_at=datetime(2026, 3, 12, tzinfo=UTC),
        remittance=remittance,
        at=AT,
    )
    return transfer


def error_of(response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["field"]


# --- API ---
def test_record_a_transfer_then_the_same_again(api, invoice):
    response = api.post(URL, body(remittance=f"Paying {invoice.payment_reference}"), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert {k: data[k] for k in ("amount", "currency", "status", "customer", "invoices")} == {
        "amount": "25.00",
        "currency": "USD",
        "status": "matched",
        "customer": "acme-42",
        "invoices": [invoice.number],
    }
    again = api.post(URL, body(remittance=f"Paying {invoice.payment_reference}"), format="json")
    assert (again.status_code, again.json()["id"]) == (200, data["id"])
    clash = api.post(URL, body(amount="30.00"), format="json")
    assert error_of(clash) == (400, "duplicate_reference", "bank_reference")
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"amount": "abc"}, "invalid", "amount"),
        ({"amount": "-1.00"}, "min_value", "amount"),
        ({"amount": "0"}, "min_value", "amount"),
        ({"amount": "10.001"}, "too_many_decimal_places", "amount"),
        ({"currency": "XYZ"}, "invalid_currency", "currency"),
        ({"received_at": "yesterday"}, "invalid", "received_at"),
        ({"bank_reference": ""}, "blank", "bank_reference"),
        ({"color": "red"}, "unknown_field", "color"),
    ],
)
def test_bad_transfers_are_400s(api, changes, code, field):
    response = api.post(URL, body(**changes), format="json")
    assert error_of(response) == (400, code, field)
    assert response.json()["error"]["type"] == "invalid_request"
    assert not BankTransfer.objects.exists()


def test_list_filter_and_retrieve(api, read_only_api, customer, invoice):
    unmatched("TX-1")
    unmatched("TX-2", remittance=invoice.payment_reference)
    listed = read_only_api.get(URL, {"status": "unmatched"}).json()["results"]
    assert [row["bank_reference"] for row in listed] == ["TX-1"]
    mine = read_only_api.get(URL, {"customer": "acme-42"}).json()["results"]
    assert [row["bank_reference"] for row in mine] == ["TX-2"]
    by_reference = read_only_api.get(f"{URL}TX-2/")
    assert by_reference.json()["status"] == "matched"
    assert read_only_api.get(f"{URL}{by_reference.json()['id']}/").status_code == 200
    assert error_of(read_only_api.get(f"{URL}nope/")) == (404, "not_found", None)
    assert read_only_api.post(URL, body(), format="json").status_code == 403


def test_assign_a_transfer(api, customer, invoice):
    transfer = unmatched()
    url = f"{URL}{transfer.pk}/assign/"
    for payload, expected in [
        ({"customer": "nobody"}, (400, "does_not_exist", "customer")),
        ({"customer": "acme-42", "invoices": ["INV-0"]}, (400, "does_not_exist", "invoices.0")),
        ({"customer": "acme-42", "invoice": []}, (400, "unknown_field", "invoice")),
    ]:
        assert error_of(api.post(url, payload, format="json")) == expected
    other = open_invoice(factories.customer(external_id="globex"), "10.00")
    refused = api.post(url, {"customer": "acme-42", "invoices": [other.number]}, format="json")
    assert error_of(refused) == (400, "invalid_invoice", "invoices.0")
    done = api.post(url, {"customer": "acme-42", "invoices": [invoice.number]}, format="json")
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["invoices"]) == ("matched", [invoice.number])
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    again = api.post(url, {"customer": "acme-42"}, format="json")
    assert error_of(again) == (422, "bank_transfer_matched", None)


def test_ignore_a_transfer(api):
    transfer = unmatched()
    url = f"{URL}{transfer.pk}/ignore/"
    assert error_of(api.post(url, {}, format="json")) == (400, "required", "reason")
    response = api.post(url, {"reason": "Supplier refund"}, format="json")
    assert response.json()["status"] == "ignored"
    assert error_of(api.post(url, {"reason": "x"}, format="json"))[0] == 422


def test_import_a_statement(api, invoice):
    csv = (
        "date,amount,currency,reference,description\n"
        f"2026-03-12,25.00,USD,TX-1,{invoice.payment_reference}\n"
        "2026-03-12,-3.00,USD,TX-2,fee\n"
        "2026-03-12,1O.00,USD,TX-3,typo\n"
    ).encode()
    upload = SimpleUploadedFile("march.csv", csv, content_type="text/csv")
    response = api.post(f"{URL}import/", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "created": 1,
        "duplicates": 0,
        "matched": 1,
        "skipped": [{"row": 3, "message": "Outgoing payment (negative amount): skipped."}],
        "errors": [{"row": 4, "message": "'1O.00' is not an amount."}],
    }
    assert BankTransfer.objects.get().statement == "march.csv"
    missing = api.post(f"{URL}import/", {}, format="multipart")
    assert error_of(missing) == (400, "required", "file")


# --- Admin ---
def admin_url(view, *args):
    return reverse(f"admin:billing_banktransfer_{view}", args=args)


def act(client, action, *transfers, **fields):
    data = {"action": action, "_selected_action": [t.pk for t in transfers], **fields}
    return client.post(admin_url("changelist"), data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_admin_pages_render(admin_client, invoice):
    transfer = unmatched()
    unmatched("TX-2", remittance=invoice.payment_reference)  # matched at once
    assert admin_client.get(admin_url("changelist"), {"q": "TX-1"}).status_code == 200
    assert b"Payment #" in admin_client.get(admin_url("changelist")).content
    page = admin_client.get(admin_url("change", transfer.pk))
    assert page.status_code == 200
    assert b"Events of this transfer" in page.content
    assert admin_client.get(admin_url("add")).status_code == 200
    assert admin_client.get(admin_url("delete", transfer.pk)).status_code == 403


def test_admin_add_form_records_through_the_service(admin_client, admin_user, invoice):
    data = {
        "bank_reference": "TX-9",
        "amount": "25.00",
        "currency": "USD",
        "received_at_0": "2026-03-12",
        "received_at_1": "09:00:00",
        "payer_name": "ACME",
        "payer_account": "",
        "remittance": invoice.payment_reference,
    }
    response = admin_client.post(admin_url("add"), data)
    assert response.status_code == 302
    transfer = BankTransfer.objects.get()
    assert (transfer.status, transfer.statement) == ("matched", "entered by staff")
    again = admin_client.post(admin_url("add"), {**data, "amount": "26.00"}, follow=True)
    assert any("already recorded" in m for m in messages_of(again))
    assert BankTransfer.objects.count() == 1


def test_admin_auto_match_action(admin_client, customer):
    transfer = unmatched(remittance="INV RF?? see below")
    invoice = open_invoice(customer, "25.00")
    BankTransfer.objects.filter(pk=transfer.pk).update(remittance=invoice.payment_reference)
    response = act(admin_client, "auto_match_selected", transfer, unmatched("TX-2"))
    assert "Matched 1 of 2 unmatched transfer(s)" in messages_of(response)[0]
    assert BankTransfer.objects.get(pk=transfer.pk).status == "matched"


def test_admin_assign_action_asks_then_matches(admin_client, customer, invoice):
    transfer = unmatched()
    form = act(admin_client, "assign_selected", transfer)
    assert form.status_code == 200
    assert b'name="customer"' in form.content
    assert b"TX-1" in form.content
    wrong = act(admin_client, "assign_selected", transfer, apply="1", customer="nobody")
    assert b"No active customer has this external_id." in wrong.content
    done = act(
        admin_client,
        "assign_selected",
        transfer,
        apply="1",
        customer="acme-42",
        invoices=invoice.number,
    )
    assert messages_of(done) == ["Matched to acme-42: 1."]
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    again = act(admin_client, "assign_selected", transfer, apply="1", customer="acme-42")
    assert "not possible" in messages_of(again)[0]


def test_admin_ignore_action(admin_client):
    transfer = unmatched()
    assert b'name="reason"' in act(admin_client, "ignore_selected", transfer).content
    done = act(admin_client, "ignore_selected", transfer, apply="1", reason="Supplier refund")
    assert messages_of(done) == ["Ignored: 1."]
    assert BankTransfer.objects.get().status == "ignored"


def test_admin_statement_import(admin_client, invoice):
    assert admin_client.get(admin_url("import")).status_code == 200
    csv = (
        "date;amount;currency;reference;remittance\n"
        f"2026-03-12;25,00;USD;TX-1;{invoice.payment_reference}\n"
        "2026-03-12;x;USD;TX-2;\n"
    )
    upload = SimpleUploadedFile("s.csv", csv.encode(), content_type="text/csv")
    response = admin_client.post(admin_url("import"), {"file": upload}, follow=True)
    assert messages_of(response) == [
        "s.csv: 1 new transfer(s), 1 matched, 0 recorded before, 0 outgoing skipped.",
        "Row 3: 'x' is not an amount.",
    ]


def staff(name, group):
    user = get_user_model().objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def test_read_only_staff_see_the_report_only_finance_acts(client):
    call_command("sync_staff_groups", stdout=io.StringIO())  # even after a database flush
    transfer = unmatched()
    client.force_login(staff("reader", "read-only"))
    assert client.get(reverse("admin:billing_banktransfer_reconciliation")).status_code == 200
    assert client.get(admin_url("import")).status_code == 403
    act(client, "ignore_selected", transfer, apply="1", reason="Interest")
    assert BankTransfer.objects.get().status == "unmatched"
    client.force_login(staff("money", "finance"))
    assert client.get(admin_url("import")).status_code == 200
    act(client, "ignore_selected", transfer, apply="1", reason="Interest")
    assert BankTransfer.objects.get().status == "ignored"
