"""The API of the seller's tax set-up: its settings (`/tax/settings/`) and the places where it
collects tax (`/tax/registrations/`); the serializers of the taxes that invoices, credit notes
and the tax report show."""
