"""How customers reach the apps above them without importing them.

`tax_id_changed` (customer=, at=) is sent inside the transaction of a create or update that set
or changed the customer's VAT/GST number or its billing country; billing's tax package checks
the number (normalised, syntax and check digits, VIES) and stores its status."""

from django.dispatch import Signal

tax_id_changed = Signal()
