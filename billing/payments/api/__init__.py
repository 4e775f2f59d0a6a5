"""The API of payments, payment methods, bank transfers and the reconciliation report."""
