from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # Effects that travel up billing's packages: the higher package connects its receivers
        # to the lower one's hooks (no lower package imports a higher one).
        from billing.dunning import receivers as dunning_receivers
        from billing.invoicing import receivers as invoicing_receivers
        from billing.payments import receivers as payments_receivers

        # dj-stripe's webhook events arrive as signals: connect our receivers.
        from billing.payments import stripe_webhooks  # noqa: F401
        from billing.payments.gateways import stripe_webhook_bounds  # noqa: F401
        from billing.tax import receivers as tax_receivers

        tax_receivers.connect()
        invoicing_receivers.connect()
        payments_receivers.connect()
        dunning_receivers.connect()
