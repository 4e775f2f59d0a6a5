"""The provisioning API: entitlements and the access check, service keys and seats, orders,
webhook endpoints."""
