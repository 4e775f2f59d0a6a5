"""Would a subscription change leave more users holding seats than it provides?

The portal (and any interface) asks this before it asks billing to lower a quantity, move to
a plan with fewer seats or drop an add-on granting seats. The seats a change leaves are what
`entitlements_expected` would say with the subscription on its new terms (plans, add-ons and
overrides combined exactly as provisioning will), computed inside a savepoint that is rolled
back: nothing is saved.
"""

from datetime import datetime

from django.db import transaction

from billing.models import Subscription, SubscriptionAddOn
from catalog.models import Feature, FeatureKind, Plan
from provisioning.services.entitlements import entitlements_expected
from provisioning.services.seats import seat_counts, seats_reduction_check


def seat_limits_after_change(
    *,
    subscription: Subscription,
    at: datetime,
    plan: Plan | None = None,
    quantity: int | None = None,
    addons: list[dict] | None = None,
) -> dict[int, int | None]:
    """Seats per seats-feature id (None: unlimited, 0: none) the customer would hold with
    `subscription` on `plan` × `quantity` with `addons` (the full set; None: unchanged)."""
    with transaction.atomic():
        changes = {}
        if plan is not None:
            changes["plan"] = plan
        if quantity is not None:
            changes["quantity"] = quantity
        if changes:
            Subscription.objects.filter(pk=subscription.pk).update(**changes)
        if addons is not None:
            SubscriptionAddOn.objects.filter(
                subscription=subscription, ended_at__isnull=True
            ).update(ended_at=at)
            SubscriptionAddOn.objects.bulk_create(
                SubscriptionAddOn(
                    subscription=subscription,
                    addon=item["addon"],
                    quantity=item["quantity"],
                    started_at=at,
                )
                for item in addons
                if item["quantity"] > 0
            )
        expected = entitlements_expected(customer=subscription.customer, at=at)
        transaction.set_rollback(True)
    seats = set(
        Feature.objects.filter(pk__in=expected, kind=FeatureKind.SEATS).values_list("pk", flat=True)
    )
    return {
        feature_id: (want.limit if want.enabled else 0)
        for feature_id, want in expected.items()
        if feature_id in seats
    }


def seats_change_check(
    *,
    subscription: Subscription,
    at: datetime,
    plan: Plan | None = None,
    quantity: int | None = None,
    addons: list[dict] | None = None,
) -> None:
    """Refuse (409 `seats_assigned`, field `quantity`, from `seats_reduction_check`) a change
    that would leave fewer seats of a feature than are assigned; a feature the change takes
    away entirely counts as 0 seats."""
    after = seat_limits_after_change(
        subscription=subscription, at=at, plan=plan, quantity=quantity, addons=addons
    )
    for count in seat_counts(customer=subscription.customer):
        new_limit = after.get(count.feature.pk, 0)
        if count.assigned and (new_limit is not None and new_limit < count.assigned):
            seats_reduction_check(
                customer=subscription.customer, feature=count.feature, new_limit=new_limit
            )
