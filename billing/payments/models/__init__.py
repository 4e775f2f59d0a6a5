"""Gateways, routing rules, payment methods, payments, attempts, allocations, refunds, bank
transfers; the sandbox gateway's own ledger."""
