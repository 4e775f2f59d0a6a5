"""Payments in the operations console: payments, refunds, methods, gateways, routing, bank
transfers, reconciliation."""
