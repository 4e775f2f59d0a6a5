"""A customer's team: its logins (`CustomerUser`) and their roles, managed by its own users.

Rules the portal and any other interface share:
- a customer always keeps at least one owner: the last owner can be neither demoted nor
  removed (409 `last_owner`);
- only an owner may make someone an owner, or change or remove an owner's membership
  (403-like `owner_required`, raised as a Conflict so callers show it as a refusal);
- adding an email that is already a member is refused (`already_member`) rather than
  silently changing its role (`customer_user_add` would);
- nobody removes themselves through it (`self_removal`: another member must do it);
- removing a member frees the seats it holds (and moves the access version on, like
  `seat_unassign`), in the same transaction; the login itself stays (it may belong to
  other customers).

Every service locks the customer's CustomerAccess row first (`access_lock`), so two
concurrent removals cannot both take away "the other" owner.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from api.errors import Conflict
from customers.models import Customer, CustomerRole, CustomerUser
from customers.services import customer_user_add
from provisioning.models import SeatAssignment
from provisioning.services.accounts import access_lock, access_version_touch

OWNER = CustomerRole.OWNER


def _owners(customer: Customer) -> int:
    return CustomerUser.objects.filter(customer=customer, role=OWNER).count()


def _require_owner_for(by: CustomerUser | None, *roles: str) -> None:
    """Only an owner may grant the owner role or touch an owner's membership."""
    if OWNER in roles and by is not None and by.role != OWNER:
        raise Conflict(
            "Only an owner can make someone an owner or change an owner's membership.",
            code="owner_required",
            field="role",
        )


def _require_role(role: str) -> None:
    if role not in CustomerRole.values:
        raise ValidationError({"role": ValidationError("Unknown role.", code="invalid_choice")})


@transaction.atomic
def team_member_add(
    *, customer: Customer, email: str, role: str, by: CustomerUser | None = None
) -> CustomerUser:
    """Give the login `email` (made if new, without a usable password) `role` at the
    customer. `by` is the member doing it (None: staff or the system)."""
    email = (email or "").strip()
    errors = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ValidationError("Enter a valid email address.", code="invalid")
    if role not in CustomerRole.values:
        errors["role"] = ValidationError("Unknown role.", code="invalid_choice")
    if errors:
        raise ValidationError(errors)
    _require_owner_for(by, role)
    access_lock(customer=customer)
    if CustomerUser.objects.filter(customer=customer, user__username__iexact=email).exists():
        raise Conflict(
            f"{email.lower()} is already a member; change its role instead.",
            code="already_member",
            field="email",
        )
    return customer_user_add(customer=customer, email=email, role=role)


@transaction.atomic
def team_member_role_set(
    *, membership: CustomerUser, role: str, by: CustomerUser | None = None
) -> CustomerUser:
    """Change a member's role; never leaves the customer without an owner."""
    _require_role(role)
    access_lock(customer=membership.customer)
    member = CustomerUser.objects.select_for_update().get(pk=membership.pk)
    if member.role == role:
        return member
    _require_owner_for(by, role, member.role)
    if member.role == OWNER and _owners(member.customer) <= 1:
        raise Conflict(
            "This is the last owner: make another member an owner first.",
            code="last_owner",
            field="role",
        )
    member.role = role
    member.save(update_fields=["role"])
    return member


@transaction.atomic
def team_member_remove(
    *, membership: CustomerUser, at: datetime, by: CustomerUser | None = None
) -> None:
    """Take a member off the customer's team, freeing its seats; never the last owner."""
    access = access_lock(customer=membership.customer)
    member = CustomerUser.objects.select_for_update().get(pk=membership.pk)
    if by is not None and by.pk == member.pk:
        raise Conflict(
            "You cannot remove yourself; ask another owner or admin.", code="self_removal"
        )
    _require_owner_for(by, member.role)
    if member.role == OWNER and _owners(member.customer) <= 1:
        raise Conflict(
            "This is the last owner and cannot be removed: make another member an owner first.",
            code="last_owner",
        )
    freed, _ = SeatAssignment.objects.filter(user=member).delete()
    member.delete()
    if freed:
        access_version_touch(access)
