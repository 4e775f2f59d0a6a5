"""Dunning (the highest billing package): campaigns, cases opened by a failed charge, retries,
reminders and the final action (suspend or cancel). It receives invoicing's and payments'
hooks in `receivers`."""
