"""The double-entry ledger of the billing platform, as pure functions: journal entries built
from plain Decimal amounts (invoice finalised, payment, refund, credit note, monthly revenue
recognition, usage accrual and its reversal, customer balance applied), the checks that every
entry balances in its currency's precision, a trial balance, and the exports of entries as a
journal CSV and as the manual-journal import files of Xero and QuickBooks Online. No models and
no database here: the services that post entries and the views that serve them sit on top.
"""
