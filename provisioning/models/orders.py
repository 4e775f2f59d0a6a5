"""Orders: each billing change that needs a service action, fulfilled by a small DAG of
idempotent steps (defined per product, or the default workflow)."""

from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from billing.models import BillingEvent
from catalog.models import Product
from customers.models import Customer


class OrderKind(models.TextChoices):
    ACTIVATE = "activate", "Activate"
    CHANGE = "change", "Change (upgrade/downgrade/add-on)"
    SUSPEND = "suspend", "Suspend"
    RESTORE = "restore", "Restore"
    RENEW = "renew", "Renew"
    CANCEL = "cancel", "Cancel (deprovision after grace)"
    DEPROVISION = "deprovision", "Deprovision"


class OrderStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed (needs an operator)"
    COMPENSATED = "compensated", "Compensated (abandoned and undone)"


OS = OrderStatus


class Workflow(models.Model):
    """The steps fulfilling one kind of order for a product (or for every product)."""

    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.CASCADE, related_name="workflows"
    )
    kind = models.CharField(max_length=15, choices=OrderKind.choices)
    steps = models.JSONField(
        help_text='[{"key": "account", "type": "create_account", "depends_on": [], '
        '"config": {}}, …] — a DAG by `depends_on`.'
    )
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "kind"], name="workflow_unique_per_product_kind"
            ),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(product__isnull=True), name="workflow_default_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product or 'default'}: {self.kind}"


class Order(FSMModelMixin, models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    kind = models.CharField(max_length=15, choices=OrderKind.choices)
    status = FSMField(default=OS.RECEIVED, choices=OS.choices, protected=True)
    source_event = models.ForeignKey(
        BillingEvent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The billing event it fulfils (each at most one order of a kind).",
    )
    subscription_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["source_event", "kind"], name="order_once_per_event_kind"
            )
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} {self.kind} ({self.status})"

    @transition(field=status, source=[OS.RECEIVED, OS.FAILED], target=OS.IN_PROGRESS)
    def start(self, *, at):
        self.started_at = self.started_at or at
        self.error = ""

    @transition(field=status, source=OS.IN_PROGRESS, target=OS.COMPLETED)
    def complete(self, *, at):
        self.finished_at = at

    @transition(field=status, source=OS.IN_PROGRESS, target=OS.FAILED)
    def fail(self, *, at, error: str):
        self.finished_at, self.error = at, error

    @transition(
        field=status, source=[OS.RECEIVED, OS.IN_PROGRESS, OS.FAILED], target=OS.COMPENSATED
    )
    def compensate(self, *, at):
        self.finished_at = at


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting (approval or a prerequisite)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped by an operator"
    COMPENSATED = "compensated", "Undone"


St = StepStatus


class FulfillmentStep(FSMModelMixin, models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=50)
    step_type = models.CharField(max_length=30)
    depends_on = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict, blank=True)
    status = FSMField(default=St.PENDING, choices=St.choices, protected=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["order", "key"], name="step_key_unique_per_order")
        ]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.key} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"order_{self.order_id}_step_{self.key}"

    @transition(field=status, source=[St.PENDING, St.WAITING, St.FAILED], target=St.RUNNING)
    def run(self, *, at):
        self.attempts += 1
        self.started_at = at

    @transition(field=status, source=[St.PENDING, St.RUNNING], target=St.WAITING)
    def wait(self, *, reason: str):
        self.last_error = reason

    @transition(field=status, source=St.RUNNING, target=St.SUCCEEDED)
    def succeed(self, *, at, result: dict):
        self.finished_at, self.result, self.last_error = at, result, ""

    @transition(field=status, source=St.RUNNING, target=St.FAILED)
    def fail(self, *, error: str, retry_at=None):
        self.last_error, self.next_attempt_at = error, retry_at

    @transition(field=status, source=[St.PENDING, St.WAITING, St.FAILED], target=St.SKIPPED)
    def skip(self, *, at):
        self.finished_at = at

    @transition(field=status, source=St.WAITING, target=St.PENDING)
    def approve(self):
        self.last_error = ""

    @transition(field=status, source=St.SUCCEEDED, target=St.COMPENSATED)
    def undo(self, *, at):
        self.finished_at = at
