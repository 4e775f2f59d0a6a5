"""MRR history: each subscription's MRR as a run of constant segments, rebuilt from the
subscription, add-on and discount timeline by the reports' consumer."""

from django.db import models

from billing.models import Subscription
from customers.models import Customer


class MrrSegment(models.Model):
    """From `start` until `end` (open: None) the subscription counted `mrr` (unrounded,
    normalised to a month, after recurring discounts). Zero spans are not stored."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    mrr = models.DecimalField(max_digits=28, decimal_places=10)
    churn = models.CharField(
        max_length=12, blank=True, help_text="voluntary | involuntary when it ends with the sub."
    )

    class Meta:
        ordering = ["subscription", "start"]
        indexes = [
            models.Index(fields=["currency", "start"]),
            models.Index(fields=["currency", "end"]),
            models.Index(fields=["customer", "start"]),
        ]
