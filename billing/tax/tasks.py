"""Tax's django-q2 entry points: the VIES checks that run outside the request."""

from django.utils import timezone

from billing.tax.services import customer_tax_id_vies, tax_ids_pending_recheck


def customer_tax_id_vies_task(customer_id: int) -> str:
    """Queued when a customer's number passed its checksum in `vies` mode."""
    return customer_tax_id_vies(customer_id=customer_id, at=timezone.now())


def tax_ids_pending_scheduled() -> int:
    """Ask VIES again about every number still pending (it was down or busy)."""
    return tax_ids_pending_recheck(at=timezone.now())
