"""Provisioning services (writes): entitlements, overrides, the access check, accounts, seats,
service keys, orders and their steps, webhooks and the drift audit."""
