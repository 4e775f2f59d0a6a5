"""The portal's "Emails" page: which optional reminders the account gets."""

import re

import pytest
from django.urls import reverse

from customers.models import CustomerRole as R
from customers.models import NoticeKind

EMAILS = reverse("portal:emails")


def checked(page: str) -> set[str]:
    inputs = re.findall(r'<input[^>]*name="notices_opted_out"[^>]*>', page)
    return {re.search(r'value="([^"]+)"', tag)[1] for tag in inputs if " checked" in tag}


def test_every_role_sees_the_choices_and_what_is_always_sent(acme):
    page = acme.client(R.VIEWER).get(EMAILS).content.decode()
    assert "Trial ending soon" in page
    assert "Card expiring" in page
    assert "Receipt (invoice paid)" in page  # listed as always sent, not as a checkbox
    assert 'value="receipt"' not in page
    assert "Only a billing manager" in page


def test_a_billing_manager_turns_reminders_off_and_on(acme):
    client = acme.client(R.BILLING)
    response = client.post(EMAILS, {"notices_opted_out": ["card_expiring", "trial_ending"]})
    assert response.status_code == 302
    acme.customer.refresh_from_db()
    assert acme.customer.notices_opted_out == ["card_expiring", "trial_ending"]
    page = client.get(EMAILS).content.decode()
    assert checked(page) == {"card_expiring", "trial_ending"}
    client.post(EMAILS, {})
    acme.customer.refresh_from_db()
    assert acme.customer.notices_opted_out == []


def test_an_essential_mail_cannot_be_turned_off(acme):
    response = acme.client(R.BILLING).post(EMAILS, {"notices_opted_out": [NoticeKind.RECEIPT]})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    acme.customer.refresh_from_db()
    assert acme.customer.notices_opted_out == []


@pytest.mark.parametrize("role", [R.MEMBER, R.VIEWER])
def test_changing_them_needs_manage_billing(acme, role):
    response = acme.client(role).post(EMAILS, {"notices_opted_out": ["card_expiring"]})
    assert response.status_code == 403
    acme.customer.refresh_from_db()
    assert acme.customer.notices_opted_out == []
