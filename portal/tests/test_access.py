"""The portal's gate: sign-in required, a login acts for its own customers only."""

from django.test import Client

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


def test_five_wrong_passwords_lock_that_email_out_for_a_while(acme):
    from django.core.cache import cache

    cache.clear()
    client = Client()
    login = {"username": acme.owner.user.email, "password": "nope"}
    for _ in range(5):
        assert "Please enter a correct" in client.post("/portal/login/", login).content.decode()
    login["password"] = PASSWORD
    response = client.post("/portal/login/", login)
    assert "Too many failed sign-ins" in response.content.decode()
    assert client.get("/portal/").status_code == 302  # still signed out
    cache.clear()  # the lockout expires
    assert client.post("/portal/login/", login).status_code == 302
