"""Provisioning in the operations console; each area's admin lives in its own module."""

import provisioning.admin_accounts  # noqa: F401 - service keys, seats
import provisioning.admin_audit  # noqa: F401 - drift audit runs, findings, report
import provisioning.admin_entitlements  # noqa: F401 - access, entitlements, overrides
import provisioning.admin_orders  # noqa: F401 - orders, steps, workflows
import provisioning.admin_webhooks  # noqa: F401 - webhook endpoints and deliveries
