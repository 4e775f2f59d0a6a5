from provisioning.models.access import (
    AccessStatus,
    CustomerAccess,
    EntitlementOverride,
    OverrideKind,
    ProvisionedEntitlement,
    SeatAssignment,
    SuspendReason,
)
from provisioning.models.audit import DriftAuditRun, DriftFinding, DriftKind
from provisioning.models.keys import ServiceKey
from provisioning.models.orders import (
    FulfillmentStep,
    Order,
    OrderKind,
    OrderStatus,
    StepStatus,
    Workflow,
)
from provisioning.models.sync import EventCursor
from provisioning.models.webhooks import (
    DeliveryAttempt,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "AccessStatus",
    "CustomerAccess",
    "DeliveryAttempt",
    "DeliveryStatus",
    "DriftAuditRun",
    "DriftFinding",
    "DriftKind",
    "EntitlementOverride",
    "EventCursor",
    "FulfillmentStep",
    "Order",
    "OrderKind",
    "OrderStatus",
    "OverrideKind",
    "ProvisionedEntitlement",
    "SeatAssignment",
    "ServiceKey",
    "StepStatus",
    "SuspendReason",
    "Workflow",
    "WebhookDelivery",
    "WebhookEndpoint",
]
