"""django-q2 entry points for outbound webhooks and the drift audit (the only place that
reads the clock for them). Each is idempotent and safe to run concurrently."""

from django.utils import timezone


def webhooks_fan_out_task() -> int:
    """Scheduled every minute: new billing events become deliveries."""
    from provisioning.services.webhooks import webhooks_fan_out

    return webhooks_fan_out(at=timezone.now())


def webhooks_deliver_due_task() -> int:
    """Scheduled every minute, and queued on commit by a fan-out that made deliveries."""
    from provisioning.services.webhook_delivery import webhooks_deliver_due

    return webhooks_deliver_due(at=timezone.now())


def drift_audit_task() -> int:
    """Scheduled hourly: compare provisioning with billing; returns the run's id."""
    from provisioning.services.audit import drift_audit_run

    return drift_audit_run(at=timezone.now()).pk


def provisioning_history_prune_task() -> dict[str, int]:
    """Scheduled daily: delete old finished deliveries and audit runs (retention.py)."""
    from provisioning.services.retention import provisioning_history_prune

    return provisioning_history_prune(at=timezone.now())
