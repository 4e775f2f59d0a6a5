from billing.models.events import BillingEvent

__all__ = ["BillingEvent"]
