"""Billing: one package per domain, lowest first (import-linter checks the order, `make lint`):

events         the billing event log, its consumers and in-process handlers; shared plumbing
subscriptions  the lifecycle (django-fsm), periods and day proration, add-ons on subscriptions
usage          ingestion, aggregates, storage (partitions, archive), alerts, usage pricing
tax            seller settings and registrations, dated rates with sources, the pure engine
               and the calculators (built-in, Stripe Tax), VAT number checks (stdnum, VIES)
invoicing      invoices and lines, bill runs, subscription billing (create, renew, change,
               cancel, proration lines), numbering, documents, credit notes, balance, coupons,
               SLA credits
payments       methods, payments and attempts, allocations, refunds, disputes, fraud,
               gateways, bank transfers and statements, reconciliation, collection
dunning        campaigns, cases, retries and reminders

A lower package never imports a higher one. An effect that travels up (a finalized invoice is
collected, a paid one recovers its dunning case) is a signal of the lower package's `hooks`
module, received by the higher package's `receivers` (connected in `apps.py`).
`models.py` gathers every model for Django (app label `billing`) and for the apps above;
`tasks.py` keeps the task names stored schedules call; `urls.py` the API routes."""
