"""django-q2 entry points of usage."""

from django.utils import timezone

from billing.usage.storage import usage_partitions_ensure


def usage_partitions_scheduled() -> int:
    return len(usage_partitions_ensure(at=timezone.now()))
