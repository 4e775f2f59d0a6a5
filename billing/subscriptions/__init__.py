"""Subscriptions: the model and its django-fsm lifecycle, billing periods in the customer's
time zone with day proration (`periods`), add-ons on subscriptions, and the lifecycle steps
that bill nothing (validation, pause, resume, undoing a cancellation, new terms). What bills a
subscription (creating, renewing, changing, cancelling with proration) is in
`billing.invoicing.services.subscription_billing` and `changes`: it writes invoice lines."""
