from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # dj-stripe's webhook events arrive as signals: connect our receivers.
        from billing.gateways import stripe_webhook_bounds, stripe_webhooks  # noqa: F401
