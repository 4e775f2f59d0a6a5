"""Subscriptions and the add-ons on them."""
