"""What payments tells dunning, above it, without importing it: dunning connects receivers in
`BillingConfig.ready` (billing/apps.py). Sent inside the transaction of the change, with
`send` (a receiver's error rolls the change back, as a direct call would)."""

from django.dispatch import Signal

# invoice=, payment=, at=, actor=: a charge of the invoice failed (dunning opens or counts).
payment_failed = Signal()
# customer=, at=, actor=: a new or new default method (dunning retries the customer's cases).
payment_method_added = Signal()
