"""Seats (licenses): customer users assigned to a seats feature, never more than purchased.

What is purchased is the limit of the customer's provisioned entitlement of the feature
(None = unlimited, 0 when it holds none). Assign, unassign and transfer lock the customer's
CustomerAccess row, so two concurrent assignments cannot both take the last seat.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from api.errors import Conflict, StateError
from catalog.models import Feature, FeatureKind
from customers.models import Customer, CustomerUser
from provisioning.models import AccessStatus, ProvisionedEntitlement, SeatAssignment
from provisioning.services.accounts import access_lock, access_version_touch


@dataclass(frozen=True)
class SeatCount:
    feature: Feature
    purchased: int | None  # None: unlimited
    assigned: int

    @property
    def available(self) -> int | None:
        return None if self.purchased is None else max(self.purchased - self.assigned, 0)


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _require_seats_feature(feature: Feature) -> None:
    if feature.kind != FeatureKind.SEATS:
        raise _field_error("feature", f"{feature.code} is not a seats feature.", "not_seats")


def _require_member(customer: Customer, user: CustomerUser, field: str = "user") -> None:
    if user.customer_id != customer.pk:
        raise _field_error(field, "This user is not one of the customer's users.", "not_a_member")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def seats_purchased(*, customer: Customer, feature: Feature) -> int | None:
    """How many seats of `feature` the customer holds: None = unlimited, 0 = none."""
    held = ProvisionedEntitlement.objects.filter(customer=customer, feature=feature).first()
    if held is None or not held.enabled:
        return 0
    return held.limit


def seats_assigned(*, customer: Customer, feature: Feature) -> int:
    return SeatAssignment.objects.filter(customer=customer, feature=feature).count()


def seat_counts(*, customer: Customer) -> list[SeatCount]:
    """Purchased and assigned per seats feature the customer holds or has seats of."""
    held = {
        pe.feature_id: pe
        for pe in ProvisionedEntitlement.objects.filter(
            customer=customer, feature__kind=FeatureKind.SEATS
        ).select_related("feature")
    }
    assigned: dict[int, int] = {}
    for feature_id in SeatAssignment.objects.filter(customer=customer).values_list(
        "feature_id", flat=True
    ):
        assigned[feature_id] = assigned.get(feature_id, 0) + 1
    features = {pe.feature_id: pe.feature for pe in held.values()}
    missing = set(assigned) - set(features)
    features.update(Feature.objects.in_bulk(missing))
    counts = []
    for feature_id, feature in sorted(features.items(), key=lambda item: item[1].code):
        pe = held.get(feature_id)
        purchased = 0 if pe is None or not pe.enabled else pe.limit
        counts.append(SeatCount(feature, purchased, assigned.get(feature_id, 0)))
    return counts


@transaction.atomic
def seat_assign(
    *, customer: Customer, feature: Feature, user: CustomerUser, at: datetime
) -> SeatAssignment:
    """Give `user` a seat of `feature`. Refused (409 `seat_limit_reached`) when every
    purchased seat is taken; assigning a user who already holds one returns that seat."""
    _require_seats_feature(feature)
    _require_member(customer, user)
    access = access_lock(customer=customer)
    if access.status == AccessStatus.DEPROVISIONED:
        raise StateError("The customer's access is deprovisioned.", code="access_deprovisioned")
    seat = SeatAssignment.objects.filter(feature=feature, user=user).first()
    if seat is not None:
        return seat
    purchased = seats_purchased(customer=customer, feature=feature)
    assigned = seats_assigned(customer=customer, feature=feature)
    if purchased is not None and assigned >= purchased:
        raise Conflict(
            f"All {_plural(purchased, 'seat')} of {feature.code} are assigned; unassign a user "
            "or buy more seats first.",
            code="seat_limit_reached",
            field="feature",
        )
    seat = SeatAssignment.objects.create(
        customer=customer, feature=feature, user=user, assigned_at=at
    )
    access_version_touch(access)
    return seat


@transaction.atomic
def seat_unassign(
    *, customer: Customer, feature: Feature, user: CustomerUser, at: datetime
) -> bool:
    """Free the user's seat of `feature`; False when it held none (nothing to do)."""
    access = access_lock(customer=customer)
    deleted, _ = SeatAssignment.objects.filter(
        customer=customer, feature=feature, user=user
    ).delete()
    if deleted:
        access_version_touch(access)
    return bool(deleted)


@transaction.atomic
def seat_transfer(
    *,
    customer: Customer,
    feature: Feature,
    from_user: CustomerUser,
    to_user: CustomerUser,
    at: datetime,
) -> SeatAssignment:
    """Move `from_user`'s seat to `to_user` (the count does not change)."""
    _require_seats_feature(feature)
    _require_member(customer, to_user, field="to_user")
    access = access_lock(customer=customer)
    seat = (
        SeatAssignment.objects.select_for_update()
        .filter(customer=customer, feature=feature, user=from_user)
        .first()
    )
    if seat is None:
        raise _field_error("from_user", "This user holds no seat of this feature.", "no_seat")
    if from_user.pk == to_user.pk:
        return seat
    if SeatAssignment.objects.filter(feature=feature, user=to_user).exists():
        raise Conflict(
            "The user already holds a seat of this feature.",
            code="already_assigned",
            field="to_user",
        )
    seat.user, seat.assigned_at = to_user, at
    seat.save(update_fields=["user", "assigned_at"])
    access_version_touch(access)
    return seat


def seats_reduction_check(*, customer: Customer, feature: Feature, new_limit: int | None) -> None:
    """Refuse (409 `seats_assigned`) lowering the seats of `feature` to `new_limit` while more
    users than that hold one. The portal and the API call it before asking billing to lower
    a subscription's quantity."""
    if new_limit is None:
        return
    assigned = seats_assigned(customer=customer, feature=feature)
    if assigned > new_limit:
        verb = "is" if assigned == 1 else "are"
        raise Conflict(
            f"{_plural(assigned, 'seat')} {verb} assigned; unassign "
            f"{_plural(assigned - new_limit, 'user')} before reducing to "
            f"{_plural(new_limit, 'seat')}.",
            code="seats_assigned",
            field="quantity",
        )
