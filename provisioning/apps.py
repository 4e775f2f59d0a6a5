from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self):
        from billing.events.services import billing_event_handler_register
        from provisioning.services.sync import INLINE_KINDS
        from provisioning.tasks import billing_event_on_commit

        billing_event_handler_register(kinds=INLINE_KINDS, handler=billing_event_on_commit)
