"""Invoicing in the operations console: subscriptions, invoices, bill runs, credit notes,
balances, coupons, SLA credits."""
