"""Add-ons on subscriptions: a catalog add-on at a quantity, over a span of time."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from billing.subscriptions.models.subscriptions import Subscription
from catalog.models import AddOn, AddOnInterval


class SubscriptionAddOn(models.Model):
    """An add-on on a subscription from `started_at` until `ended_at` (open while null).

    A row is never re-priced or re-quantified: a new quantity ends the row and starts another,
    so a row is billed once for each span from its start to its end, and its invoice lines
    are found by their billing key `sub:{subscription}:addon:{row}:…`. A recurring add-on is
    billed per period of the subscription from the local day it starts (that day included) to
    the local day it ends (excluded); a one-time add-on is billed once, when added.
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="addons")
    addon = models.ForeignKey(AddOn, on_delete=models.PROTECT, related_name="subscription_addons")
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    billed_through = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Billing of a recurring add-on goes on from here (else from its start).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subscription", "pk"]
        verbose_name = "subscription add-on"
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="subscription_addon_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="subscription_addon_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["subscription", "addon"],
                condition=Q(ended_at__isnull=True),
                name="subscription_addon_one_open_per_addon",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.addon.code} × {self.quantity} on subscription {self.subscription_id}"

    @property
    def is_recurring(self) -> bool:
        return self.addon.interval != AddOnInterval.ONE_TIME

    @property
    def key_prefix(self) -> str:
        """The start of the billing key of every invoice line of this row."""
        return f"sub:{self.subscription_id}:addon:{self.pk}:"
