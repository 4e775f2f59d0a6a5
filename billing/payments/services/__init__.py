"""Payments' services: each module one concern (see the package docstring)."""
