"""Payments: payment methods (card-on-file tokens, ACH, SEPA), payments and their attempts
across gateways (`gateways/`: sandbox, Stripe, bank transfer), allocations to invoices,
refunds, disputes, fraud checks, bank transfers and statements, reconciliation, collection of
finalized invoices, incomplete subscriptions (a failed first charge).

Dunning, above it, hears of failed charges and new methods through `hooks`; payments answers
invoicing's hooks in `receivers`."""
