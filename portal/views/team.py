"""Team members and their roles, and seats (assign/unassign members).

Permissions (provisioning/roles.py): the page needs `VIEW`; adding, re-roling and removing
members `MANAGE_TEAM`; assigning and unassigning seats `MANAGE_SEATS`. The rules (never the
last owner, only an owner grants or touches the owner role, nobody removes themselves) are
in provisioning.services.team; the forms only offer the owner role to owners.

A new member's login has no password: it gets an invitation (Django's password-reset
mechanism with the portal's invitation templates) naming who invited it to which company,
with a link to set a password and where to sign in.
"""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from api.errors import DomainError, error_text
from billing.invoicing.services.documents import seller
from customers.models import CustomerRole, CustomerUser
from portal.access import owned_or_404, portal_view
from portal.forms_manage import (
    PasswordSetEmailForm,
    SeatAssignForm,
    TeamMemberAddForm,
    TeamMemberRoleForm,
    roles_grantable,
    service_error_add,
)
from provisioning.models import SeatAssignment
from provisioning.roles import Permission
from provisioning.services.seats import seat_assign, seat_counts, seat_unassign
from provisioning.services.team import team_member_add, team_member_remove, team_member_role_set

EMAIL_TEMPLATE = "portal/team/invitation_email.txt"
SUBJECT_TEMPLATE = "portal/team/invitation_subject.txt"


def _invitation(me: CustomerUser, member: CustomerUser) -> dict:
    """Who invites whom to what, for the invitation templates."""
    name = me.user.get_full_name()
    return {
        "inviter": f"{name} ({me.user.email})" if name else me.user.email,
        "company": member.customer.name,
        "role": member.get_role_display().lower(),
        "seller": seller()["name"],
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }


def _bar(count) -> dict:
    """A seat count for the page: the bar's width and state (near: ≥ 80 %, over: full)."""
    if count.purchased is None:
        return {"count": count, "percent": 0, "state": ""}
    percent = 100 if not count.purchased else min(100, count.assigned * 100 // count.purchased)
    state = "over" if count.assigned >= count.purchased else "near" if percent >= 80 else ""
    return {"count": count, "percent": percent, "state": state}


def _page(
    request: HttpRequest,
    *,
    add_form: TeamMemberAddForm | None = None,
    assign_form: SeatAssignForm | None = None,
    status: int = 200,
) -> HttpResponse:
    portal = request.portal
    me = portal.membership
    counts = seat_counts(customer=portal.customer)
    members = (
        CustomerUser.objects.filter(customer=portal.customer)
        .select_related("user")
        .prefetch_related("seats__feature")
        .order_by("user__email")
    )
    seats = SeatAssignment.objects.filter(customer=portal.customer).select_related(
        "feature", "user__user"
    )
    context = {
        "title": "Team & seats",
        "me": me,
        "members": members,
        "roles": roles_grantable(me),
        "can_team": portal.can(Permission.MANAGE_TEAM),
        "can_seats": portal.can(Permission.MANAGE_SEATS),
        "is_owner": me.role == CustomerRole.OWNER,
        "add_form": add_form or TeamMemberAddForm(by=me),
        "seat_bars": [_bar(count) for count in counts],
        "seats": seats,
        "assign_form": assign_form
        or SeatAssignForm(customer=portal.customer, features=[c.feature for c in counts]),
    }
    return render(request, "portal/team/team.html", context, status=status)


def _refused(request: HttpRequest, error: Exception) -> HttpResponse:
    """A row action the service refused: say why on the page (nothing changed)."""
    messages.error(request, error_text(error))
    return _page(request, status=400)


@require_GET
@portal_view(Permission.VIEW)
def team(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@portal_view(Permission.MANAGE_TEAM)
def member_add(request: HttpRequest) -> HttpResponse:
    me = request.portal.membership
    form = TeamMemberAddForm(request.POST, by=me)
    if not form.is_valid():
        return _page(request, add_form=form, status=400)
    try:
        member = team_member_add(
            customer=request.portal.customer,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            by=me,
        )
    except (ValidationError, DomainError) as error:
        service_error_add(form, error)
        return _page(request, add_form=form, status=400)
    email = member.user.email
    if member.user.has_usable_password():
        messages.success(
            request, f"{email} added as {member.get_role_display()}; they can sign in now."
        )
    else:
        invite = PasswordSetEmailForm(user=member.user)
        invite.is_valid()
        invite.save(
            request=request,
            use_https=request.is_secure(),
            email_template_name=EMAIL_TEMPLATE,
            subject_template_name=SUBJECT_TEMPLATE,
            extra_email_context=_invitation(me, member),
        )
        messages.success(
            request,
            f"{email} added as {member.get_role_display()}; we emailed them a link to set "
            "their password.",
        )
    return redirect("portal:team")


@require_POST
@portal_view(Permission.MANAGE_TEAM)
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    member = owned_or_404(CustomerUser.objects.select_related("user"), request.portal, pk=pk)
    form = TeamMemberRoleForm(request.POST, by=request.portal.membership)
    if not form.is_valid():
        return _refused(request, ValidationError(list(form.errors["role"])))
    try:
        member = team_member_role_set(
            membership=member, role=form.cleaned_data["role"], by=request.portal.membership
        )
    except (ValidationError, DomainError) as error:
        return _refused(request, error)
    messages.success(request, f"{member.user.email} is now {member.get_role_display()}.")
    return redirect("portal:team")


@require_POST
@portal_view(Permission.MANAGE_TEAM)
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    member = owned_or_404(CustomerUser.objects.select_related("user"), request.portal, pk=pk)
    try:
        team_member_remove(membership=member, at=timezone.now(), by=request.portal.membership)
    except (ValidationError, DomainError) as error:
        return _refused(request, error)
    messages.success(request, f"{member.user.email} removed from the team.")
    return redirect("portal:team")


@require_POST
@portal_view(Permission.MANAGE_SEATS)
def seat_assign_view(request: HttpRequest) -> HttpResponse:
    customer = request.portal.customer
    features = [count.feature for count in seat_counts(customer=customer)]
    form = SeatAssignForm(request.POST, customer=customer, features=features)
    if not form.is_valid():
        return _page(request, assign_form=form, status=400)
    feature, member = form.cleaned_data["feature"], form.cleaned_data["member"]
    try:
        seat_assign(customer=customer, feature=feature, user=member, at=timezone.now())
    except (ValidationError, DomainError) as error:
        service_error_add(form, error)
        return _page(request, assign_form=form, status=400)
    messages.success(request, f"{member.user.email} now holds a seat of {feature.name}.")
    return redirect("portal:team")


@require_POST
@portal_view(Permission.MANAGE_SEATS)
def seat_unassign_view(request: HttpRequest, pk: int) -> HttpResponse:
    seat = owned_or_404(
        SeatAssignment.objects.select_related("feature", "user__user"), request.portal, pk=pk
    )
    seat_unassign(
        customer=request.portal.customer, feature=seat.feature, user=seat.user, at=timezone.now()
    )
    messages.success(
        request, f"The seat of {seat.feature.name} held by {seat.user.user.email} is free."
    )
    return redirect("portal:team")
