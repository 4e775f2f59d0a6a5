"""The task names django-q2 knows: the schedules that migrations stored in the database call
`billing.tasks.<name>`, and tasks queued before an upgrade may too, so every entry point of
billing's packages stays reachable here. New code queues the package's own path."""

from billing.dunning.tasks import (  # noqa: F401 - stored names
    dunning_case_retry_task,
    dunning_run_scheduled,
    dunning_run_task,
)
from billing.invoicing.tasks import (  # noqa: F401 - stored names
    bill_run_scheduled,
    bill_run_task,
    bill_runs_abandon_stale_scheduled,
    drafts_finalize_scheduled,
    invoice_email_send_task,
    invoice_receipt_send_task,
    invoices_scheduled_issue_scheduled,
)
from billing.payments.tasks import (  # noqa: F401 - stored names
    credit_note_refund_task,
    invoice_collect_task,
    payment_methods_expiring_scheduled,
    payments_resolve_scheduled,
    subscriptions_incomplete_expire_scheduled,
)
from billing.tax.tasks import (  # noqa: F401 - stored names
    customer_tax_id_vies_task,
    tax_ids_pending_scheduled,
)
from billing.usage.tasks import usage_partitions_scheduled  # noqa: F401 - stored names
