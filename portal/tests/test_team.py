"""Team members, roles and seats in the portal, and the team services behind them."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api.errors import Conflict
from customers.models import CustomerRole, CustomerUser
from portal.tests.helpers import PASSWORD
from provisioning.models import CustomerAccess, SeatAssignment
from provisioning.services.seats import seat_assign
from provisioning.services.team import team_member_add, team_member_remove, team_member_role_set

R = CustomerRole
TEAM = reverse("portal:team")
ADD = reverse("portal:team_add")
ASSIGN = reverse("portal:seat_assign")


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def only_owner(account):
    """account_activate made the customer's email an owner too: keep acme.owner alone."""
    CustomerUser.objects.filter(customer=account.customer, role=R.OWNER).exclude(
        pk=account.owner.pk
    ).delete()


def role_url(member):
    return reverse("portal:team_role", args=[member.pk])


def remove_url(member):
    return reverse("portal:team_remove", args=[member.pk])


def team_state(account):
    return sorted(
        CustomerUser.objects.filter(customer=account.customer).values_list("user__email", "role")
    ), sorted(SeatAssignment.objects.filter(customer=account.customer).values_list("pk", flat=True))


# Page
def test_team_page_lists_members_roles_and_seat_counts(acme, globex):
    acme.user(R.MEMBER)
    globex.user(R.ADMIN)
    response = acme.client(R.VIEWER).get(TEAM)
    assert response.status_code == 200
    page = response.content.decode()
    assert "owner@acme.example.com" in page
    assert "member@acme.example.com" in page
    assert "globex" not in page
    assert "0 of 2 seats assigned" in page  # basic: editor_seats 2 × quantity 1
    assert "Add member" not in page
    assert "Assign seat" not in page


def test_owner_sees_the_forms(acme):
    page = acme.client().get(TEAM).content.decode()
    assert "Add member" in page
    assert "Assign seat" in page
    assert '<option value="owner"' in page


def test_admin_is_not_offered_the_owner_role_or_owner_controls(acme):
    page = acme.client(R.ADMIN).get(TEAM).content.decode()
    assert "Add member" in page
    assert '<option value="owner"' not in page
    assert "Only an owner can change an owner." in page


# Add
def test_add_a_new_member_emails_a_password_link(acme, client):
    response = acme.client().post(ADD, {"email": "New.Person@acme.example.com", "role": "member"})
    assert response.status_code == 302
    member = CustomerUser.objects.get(
        customer=acme.customer, user__email="new.person@acme.example.com"
    )
    assert member.role == "member"
    assert not member.user.has_usable_password()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@acme.example.com"]
    link = re.search(r"https?://\S+(/portal/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"new_password1": "a-fresh-pass-77", "new_password2": "a-fresh-pass-77"},
    )
    assert done.status_code == 302
    signed_in = {"username": "new.person@acme.example.com", "password": "a-fresh-pass-77"}
    assert client.post("/portal/login/", signed_in).status_code == 302  # (axes needs a request)
    page = acme.client().get(TEAM).content.decode()
    assert "new.person@acme.example.com" in page


def test_the_invitation_names_who_invited_to_which_company_and_what_to_do(acme, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3 * 86400
    owner = acme.owner.user
    owner.first_name, owner.last_name = "Ada", "Lovelace"
    owner.save(update_fields=["first_name", "last_name"])
    client = Client()
    client.force_login(owner)
    client.post(ADD, {"email": "new.person@acme.example.com", "role": "billing"})
    [invitation] = mail.outbox
    inviter = f"Ada Lovelace ({owner.email})"
    company = acme.customer.name
    assert invitation.subject == (
        f"{inviter} invited you to {company}'s account at Example Billing Ltd"
    )
    body = invitation.body
    assert "Reset your password" not in invitation.subject
    assert "reset" not in body.split("http")[0].lower()  # not "someone asked to reset"
    assert (
        f"{inviter} invited you to join {company}'s team in the Example Billing Ltd customer "
        "portal, as billing."
    ) in body
    step_one = "1. Choose your password by opening this link (it works once, within 3 days):"
    assert step_one in body
    assert re.search(r"\nhttp://testserver/portal/reset/\S+/\S+/\n", body)
    assert (
        "2. Then sign in at http://testserver/portal/login/ with your email address, "
        "new.person@acme.example.com, and that password."
    ) in body
    assert "&#x27;" not in body + invitation.subject  # plain text, nothing escaped


def test_add_an_existing_login_sends_no_email(acme, globex):
    response = acme.client().post(ADD, {"email": globex.owner.user.email, "role": "viewer"})
    assert response.status_code == 302
    assert CustomerUser.objects.get(customer=acme.customer, user=globex.owner.user).role == "viewer"
    assert (
        CustomerUser.objects.get(customer=globex.customer, user=globex.owner.user).role == "owner"
    )
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-email", "role": "member"}, "Enter a valid email address."),
        ({"email": "x@acme.example.com", "role": "king"}, "Select a valid choice"),
        ({"email": "owner@acme.example.com", "role": "member"}, "is already a member"),
    ],
)
def test_add_refuses_bad_input(acme, data, message):
    before = team_state(acme)
    response = acme.client().post(ADD, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert team_state(acme) == before
    assert mail.outbox == []


def test_an_admin_cannot_add_an_owner(acme):
    admin = acme.client(R.ADMIN)
    before = team_state(acme)
    response = admin.post(ADD, {"email": "boss@acme.example.com", "role": "owner"})
    assert response.status_code == 400
    assert team_state(acme) == before


@pytest.mark.parametrize("role", [R.BILLING, R.MEMBER, R.VIEWER])
def test_team_changes_need_manage_team(acme, role):
    other = acme.user(R.MEMBER, email="other@acme.example.com")
    client = acme.client(role)
    before = team_state(acme)
    assert client.post(ADD, {"email": "z@acme.example.com", "role": "member"}).status_code == 403
    assert client.post(role_url(other), {"role": "admin"}).status_code == 403
    assert client.post(remove_url(other)).status_code == 403
    assert team_state(acme) == before


# Role and removal
def test_change_a_role(acme):
    member = acme.user(R.MEMBER)
    response = acme.client().post(role_url(member), {"role": "admin"}, follow=True)
    member.refresh_from_db()
    assert member.role == "admin"
    assert "member@acme.example.com is now Admin." in response.content.decode()


def test_the_last_owner_cannot_be_demoted_or_removed(acme):
    only_owner(acme)
    admin = acme.client(R.ADMIN)
    before = team_state(acme)
    # an admin may not touch an owner at all; the owner cannot demote itself as the last one
    assert admin.post(role_url(acme.owner), {"role": "member"}).status_code == 400
    response = acme.client().post(role_url(acme.owner), {"role": "admin"})
    assert response.status_code == 400
    assert "This is the last owner" in response.content.decode()
    assert team_state(acme) == before


def test_a_second_owner_makes_demotion_possible(acme):
    second = acme.user(R.OWNER, email="second@acme.example.com")
    client = acme.client()
    assert client.post(role_url(second), {"role": "admin"}).status_code == 302
    second.refresh_from_db()
    assert second.role == "admin"


def test_remove_a_member_frees_its_seats(acme, catalog):
    member = acme.user(R.MEMBER)
    seat_assign(customer=acme.customer, feature=catalog.seats, user=member, at=timezone.now())
    version = CustomerAccess.objects.get(customer=acme.customer).version
    response = acme.client().post(remove_url(member), follow=True)
    assert "member@acme.example.com removed from the team." in response.content.decode()
    assert not CustomerUser.objects.filter(pk=member.pk).exists()
    assert not SeatAssignment.objects.filter(customer=acme.customer).exists()
    assert CustomerAccess.objects.get(customer=acme.customer).version > version
    assert member.user.__class__.objects.filter(pk=member.user.pk).exists()  # the login stays


def test_nobody_removes_themselves(acme):
    before = team_state(acme)
    response = acme.client().post(remove_url(acme.owner))
    assert response.status_code == 400
    assert "You cannot remove yourself" in response.content.decode()
    assert team_state(acme) == before


def test_an_admin_cannot_remove_an_owner(acme):
    acme.user(R.OWNER, email="second@acme.example.com")
    admin = acme.client(R.ADMIN)
    before = team_state(acme)
    response = admin.post(remove_url(acme.owner))
    assert response.status_code == 400
    assert "Only an owner can" in response.content.decode()
    assert team_state(acme) == before


def test_bad_role_is_refused(acme):
    member = acme.user(R.MEMBER)
    response = acme.client().post(role_url(member), {"role": "king"})
    assert response.status_code == 400
    member.refresh_from_db()
    assert member.role == "member"


def test_another_customers_member_is_404(acme, globex):
    other = globex.user(R.MEMBER)
    client = acme.client()
    assert client.post(role_url(other), {"role": "admin"}).status_code == 404
    assert client.post(remove_url(other)).status_code == 404
    other.refresh_from_db()
    assert other.role == "member"


# Seats
def test_assign_and_unassign_a_seat(acme, catalog):
    member = acme.user(R.MEMBER)
    client = acme.client()
    response = client.post(ASSIGN, {"feature": catalog.seats.pk, "member": member.pk}, follow=True)
    page = response.content.decode()
    assert "member@acme.example.com now holds a seat of editor_seats." in page
    assert "1 of 2 seats assigned · 1 available" in page
    seat = SeatAssignment.objects.get(customer=acme.customer)
    response = client.post(reverse("portal:seat_unassign", args=[seat.pk]), follow=True)
    assert "held by member@acme.example.com is free" in response.content.decode()
    assert not SeatAssignment.objects.exists()


def test_assign_beyond_the_purchased_seats_is_refused(acme, catalog):
    users = [acme.user(R.MEMBER, email=f"m{n}@acme.example.com") for n in range(3)]
    for user in users[:2]:
        seat_assign(customer=acme.customer, feature=catalog.seats, user=user, at=timezone.now())
    response = acme.client().post(ASSIGN, {"feature": catalog.seats.pk, "member": users[2].pk})
    assert response.status_code == 400
    assert "All 2 seats of editor_seats are assigned" in response.content.decode()
    assert SeatAssignment.objects.filter(customer=acme.customer).count() == 2


def test_assign_another_customers_member_or_a_non_seat_feature_is_refused(acme, globex, catalog):
    client = acme.client()
    other = globex.user(R.MEMBER)
    response = client.post(ASSIGN, {"feature": catalog.seats.pk, "member": other.pk})
    assert response.status_code == 400
    response = client.post(ASSIGN, {"feature": catalog.sso.pk, "member": acme.owner.pk})
    assert response.status_code == 400
    assert not SeatAssignment.objects.exists()


def test_seats_need_manage_seats(acme, catalog):
    seat = seat_assign(
        customer=acme.customer, feature=catalog.seats, user=acme.owner, at=timezone.now()
    )
    client = acme.client(R.BILLING)
    response = client.post(ASSIGN, {"feature": catalog.seats.pk, "member": acme.owner.pk})
    assert response.status_code == 403
    assert client.post(reverse("portal:seat_unassign", args=[seat.pk])).status_code == 403
    assert SeatAssignment.objects.filter(pk=seat.pk).exists()


def test_another_customers_seat_is_404(acme, globex, catalog):
    seat = seat_assign(
        customer=globex.customer, feature=catalog.seats, user=globex.owner, at=timezone.now()
    )
    assert acme.client().post(reverse("portal:seat_unassign", args=[seat.pk])).status_code == 404
    assert SeatAssignment.objects.filter(pk=seat.pk).exists()


# The services
def test_services_keep_an_owner(acme):
    only_owner(acme)
    with pytest.raises(Conflict, match="last owner"):
        team_member_role_set(membership=acme.owner, role=R.ADMIN)
    with pytest.raises(Conflict, match="last owner"):
        team_member_remove(membership=acme.owner, at=timezone.now())
    member = team_member_add(customer=acme.customer, email="a@acme.example.com", role=R.MEMBER)
    with pytest.raises(Conflict, match="already a member"):
        team_member_add(customer=acme.customer, email="A@acme.example.com", role=R.ADMIN)
    admin = team_member_add(customer=acme.customer, email="b@acme.example.com", role=R.ADMIN)
    with pytest.raises(Conflict, match="Only an owner"):
        team_member_role_set(membership=member, role=R.OWNER, by=admin)
    member = team_member_role_set(membership=member, role=R.OWNER, by=acme.owner)
    assert member.role == R.OWNER
    team_member_remove(membership=acme.owner, at=timezone.now(), by=member)
    assert list(CustomerUser.objects.filter(customer=acme.customer, role=R.OWNER)) == [member]


def test_a_removed_member_can_still_sign_in_elsewhere(acme, globex, client):
    shared = globex.user(R.MEMBER, email="shared@example.com")
    acme.user(R.MEMBER, email="shared@example.com")
    team_member_remove(
        membership=CustomerUser.objects.get(customer=acme.customer, user=shared.user),
        at=timezone.now(),
    )
    signed_in = {"username": "shared@example.com", "password": PASSWORD}
    assert client.post("/portal/login/", signed_in).status_code == 302  # (axes needs a request)
    assert CustomerUser.objects.filter(user=shared.user).count() == 1
