"""Invoicing: invoices and their lines, bill runs, subscription billing (create, renew, change
with proration, cancel), what is due (`charges`), usage lines, numbering, documents (PDF,
email), credit notes, the customer balance, coupons and discounts, SLA credits.

It reaches payments and dunning, above it, only through `hooks`: signals they receive and
providers they register (billing/apps.py)."""
