"""django-q2 entry points (scheduled in migration 0004)."""

from django.conf import settings
from django.utils import timezone

from billing.services.bill_runs import (
    bill_run_request,
    bill_run_work,
    bill_runs_abandon_stale,
    drafts_finalize_due,
)


def bill_run_scheduled() -> int:
    """The hourly run: queued, then worked in time slices like one requested by the API."""
    return bill_run_request(as_of=timezone.now(), at=timezone.now(), actor="schedule").pk


def bill_run_task(*, bill_run_id: int, actor: str | None = None) -> str:
    """Work a queued bill run for a time slice (queued on commit by `bill_run_request`)."""
    run = bill_run_work(
        bill_run_id=bill_run_id, actor=actor, seconds=settings.BILL_RUN_TASK_SECONDS
    )
    return run.status if run else "not queued"


def bill_runs_abandon_stale_scheduled() -> int:
    return bill_runs_abandon_stale(at=timezone.now())


def drafts_finalize_scheduled() -> int:
    return drafts_finalize_due(at=timezone.now())


def usage_partitions_scheduled() -> int:
    from billing.services.usage_storage import usage_partitions_ensure

    return len(usage_partitions_ensure(at=timezone.now()))


def payments_resolve_scheduled() -> int:
    from billing.services.payments import payments_resolve_unknown

    return payments_resolve_unknown(at=timezone.now())


def payment_methods_expiring_scheduled() -> int:
    from billing.services.payment_methods import payment_methods_expiring_notify

    return payment_methods_expiring_notify(at=timezone.now())


def dunning_run_scheduled() -> dict:
    from billing.tasks_dunning import dunning_run_task

    return dunning_run_task()


def subscriptions_incomplete_expire_scheduled() -> int:
    """Every 10 minutes: incomplete subscriptions whose first invoice stayed unpaid too long."""
    from billing.services.incomplete_jobs import subscriptions_incomplete_expire

    return subscriptions_incomplete_expire(at=timezone.now())


def invoice_collect_task(*, invoice_id: int) -> str:
    """Charge a just-finalized invoice to the customer's default method (queued on commit)."""
    from billing.services.collection import invoice_collect

    return invoice_collect(invoice_id=invoice_id, at=timezone.now())


def credit_note_refund_task(*, credit_note_id: int) -> int:
    """Pay back what a credit note refunds (queued on commit by `credit_note_issue`)."""
    from billing.models import CreditNote
    from billing.services.refunds import credit_note_refund

    note = CreditNote.objects.get(pk=credit_note_id)
    return len(credit_note_refund(credit_note=note, at=timezone.now()))
