"""Tax: the seller's settings and registrations, staff's rate overrides, effective-dated rates
with sources (rates.csv), the pure engine, the calculators (built-in, Stripe Tax), VAT number
checks (python-stdnum, VIES), its API and admin. Between usage and invoicing: invoicing asks it
what each line carries (billing/invoicing/services/taxes.py applies the answer)."""
