"""Tax: registrations, effective-dated rates, the pure tax engine, VAT number checks. Between
usage and invoicing: invoicing asks it what each line carries."""
