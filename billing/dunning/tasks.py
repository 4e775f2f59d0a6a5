"""django-q2 entry points for dunning (the only place that reads the clock for it)."""

from django.utils import timezone

from billing.dunning.jobs import dunning_case_retry, dunning_run


def dunning_run_task() -> dict:
    """Scheduled (`dunning_run_scheduled`); safe to run twice or concurrently."""
    return dunning_run(at=timezone.now())


def dunning_case_retry_task(case_id: int) -> str:
    """Queued on commit when a customer adds a payment method: retry that case now."""
    return dunning_case_retry(case_id=case_id, at=timezone.now())


def dunning_run_scheduled() -> dict:
    return dunning_run_task()
