"""django-q2 entry points (scheduled in migration 0004)."""

from django.utils import timezone

from billing.services.bill_runs import bill_run_execute, drafts_finalize_due


def bill_run_scheduled() -> int:
    return bill_run_execute(as_of=timezone.now(), at=timezone.now()).pk


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
