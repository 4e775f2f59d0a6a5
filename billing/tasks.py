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
