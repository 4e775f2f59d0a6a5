"""The reports' API: the tax report (`/tax/report/`)."""
