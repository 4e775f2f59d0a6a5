"""Billing's admin pages, for Django's autodiscovery: each domain package registers its own."""

import billing.dunning.admin  # noqa: F401 - dunning campaigns and cases
import billing.events.admin  # noqa: F401 - the billing event log
import billing.invoicing.admin.bill_runs  # noqa: F401 - bill runs and the "Run billing" page
import billing.invoicing.admin.credits  # noqa: F401 - credit notes, balances, coupons
import billing.invoicing.admin.invoices  # noqa: F401 - invoices, number sequences
import billing.invoicing.admin.sla  # noqa: F401 - SLA credits
import billing.invoicing.admin.subscriptions  # noqa: F401 - subscriptions
import billing.notices.admin  # noqa: F401 - customer notices sent, template previews
import billing.payments.admin.bank  # noqa: F401 - bank transfers, reconciliation report
import billing.payments.admin.methods  # noqa: F401 - payment methods, gateways, routing
import billing.payments.admin.payments  # noqa: F401 - payments, refunds
import billing.tax.admin  # noqa: F401 - tax settings, registrations, rates, VAT numbers
import billing.usage.admin  # noqa: F401 - usage aggregates, events, alerts
