"""The portal's gate: sign-in required, a login acts for its own customers only; refusals are
logged in one line."""

import logging

from django.test import Client
from django.urls import reverse

from customers.models import CustomerRole
from customers.services import customer_user_add
from portal.tests.helpers import PASSWORD


def test_anonymous_visitors_are_sent_to_sign_in(acme):
    response = Client().get("/portal/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/?next=/portal/")


def test_a_login_without_a_customer_is_refused(acme, django_user_model):
    staff = django_user_model.objects.create_user("ops@example.com", password=PASSWORD)
    client = Client()
    client.force_login(staff)
    assert client.get("/portal/").status_code == 403


def test_a_login_of_two_customers_switches_between_them_only(acme, globex, catalog):
    from portal.tests.helpers import account

    initech = account(catalog, "initech")
    shared = customer_user_add(
        customer=globex.customer, email=acme.owner.user.email, role=CustomerRole.VIEWER
    )
    client = Client()
    client.force_login(acme.owner.user)
    page = client.get("/portal/").content.decode()
    assert "Acme · Owner" in page
    assert "Switch to" in page
    assert "Globex" in page
    assert "Initech" not in page
    client.post("/portal/switch/", {"customer": initech.customer.pk})  # not theirs: ignored
    assert "Acme · Owner" in client.get("/portal/").content.decode()
    client.post("/portal/switch/", {"customer": shared.customer_id})
    assert "Globex · Viewer" in client.get("/portal/").content.decode()


def test_sign_in_with_a_wrong_password_says_so_and_signs_nobody_in(acme):
    client = Client()
    response = client.post(
        "/portal/login/", {"username": acme.owner.user.email, "password": "nope"}
    )
    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()
    assert client.get("/portal/").status_code == 302
    response = client.post(
        "/portal/login/", {"username": acme.owner.user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/portal/"


def test_a_refused_page_is_logged_in_one_line_without_a_traceback(acme, caplog):
    """A 403 is an expected answer: one WARNING line naming the permission, no traceback."""
    client = acme.client(CustomerRole.VIEWER)
    with caplog.at_level(logging.WARNING):
        response = client.get(reverse("portal:payment_methods"))
    assert response.status_code == 403
    refusals = [record for record in caplog.records if record.name == "django.request"]
    assert len(refusals) == 1
    assert refusals[0].levelno == logging.WARNING
    assert refusals[0].getMessage() == (
        "Forbidden (portal permission manage_billing): /portal/payment-methods/"
    )
    assert refusals[0].exc_info is None
    assert "Traceback" not in caplog.text


# The sign-in lockouts (django-axes) are tested in test_lockout.py.
