"""The fulfillment workflows: which steps fulfil each kind of order, as a small DAG.

A product's active `Workflow` row for the order's kind overrides the default here. A workflow
is a list of steps `{"key", "type", "depends_on": [keys], "config": {}}`; `workflow_validate`
refuses unknown step types, unknown or duplicate keys, cycles, and URLs of `call_http` steps
(`url`, `health_url`, `undo_url`) that api/outbound.py would not call."""

from django.core.exceptions import ValidationError

from api.errors import DomainError
from api.outbound import outbound_url_check
from provisioning.models import OrderKind, Workflow
from provisioning.services.steps import STEP_TYPES


def _step(key: str, step_type: str, depends_on: tuple = (), **config) -> dict:
    return {"key": key, "type": step_type, "depends_on": list(depends_on), "config": config}


DEFAULT_WORKFLOWS: dict[str, list[dict]] = {
    OrderKind.ACTIVATE: [
        _step("account", "create_account"),
        _step("entitlements", "grant_entitlements", ("account",)),
        _step("seats", "assign_seats", ("entitlements",)),
        _step("api_key", "issue_api_key", ("account",), name="Default", scopes=["read", "write"]),
    ],
    OrderKind.CHANGE: [_step("entitlements", "grant_entitlements")],
    OrderKind.RENEW: [_step("entitlements", "grant_entitlements")],
    OrderKind.SUSPEND: [_step("suspend", "suspend_access")],
    OrderKind.RESTORE: [_step("restore", "restore_access")],
    OrderKind.CANCEL: [_step("schedule", "schedule_deprovision")],
    OrderKind.DEPROVISION: [_step("deprovision", "deprovision")],
}


URL_KEYS = ("url", "health_url", "undo_url")  # call_http's outside URLs


def workflow_validate(steps, *, check_urls: bool = True) -> list[dict]:
    """The steps, normalized, or a ValidationError naming what is wrong. `check_urls` looks
    the URLs' hosts up (where a workflow is saved); running steps check them again anyway."""
    if not isinstance(steps, list) or not steps:
        raise ValidationError("A workflow is a non-empty list of steps.", code="workflow_empty")
    normalized, keys = [], set()
    for raw in steps:
        if not isinstance(raw, dict) or not raw.get("key") or not raw.get("type"):
            raise ValidationError("Each step needs a key and a type.", code="workflow_step")
        key, step_type = str(raw["key"]), str(raw["type"])
        if step_type not in STEP_TYPES:
            raise ValidationError(f"Unknown step type {step_type!r}.", code="workflow_step_type")
        if key in keys:
            raise ValidationError(f"Duplicate step key {key!r}.", code="workflow_step_key")
        depends_on = raw.get("depends_on") or []
        if not isinstance(depends_on, list):
            raise ValidationError(f"{key}: depends_on is a list.", code="workflow_step")
        config = raw.get("config") or {}
        if not isinstance(config, dict):
            raise ValidationError(f"{key}: config is an object.", code="workflow_step")
        if step_type == "call_http" and check_urls:
            _urls_check(key, config)
        keys.add(key)
        deps = [str(d) for d in depends_on]
        normalized.append({"key": key, "type": step_type, "depends_on": deps, "config": config})
    for step in normalized:
        unknown = [d for d in step["depends_on"] if d not in keys]
        if unknown:
            raise ValidationError(
                f"{step['key']} depends on unknown steps: {', '.join(unknown)}.",
                code="workflow_dependency",
            )
    _check_acyclic(normalized)
    return normalized


def _urls_check(key: str, config: dict) -> None:
    if not config.get("url"):
        raise ValidationError(f"{key}: call_http needs config.url.", code="workflow_step")
    for name in URL_KEYS:
        if name in config:
            try:
                outbound_url_check(config[name])
            except DomainError as exc:
                raise ValidationError(
                    f"{key}: config.{name}: {exc.message}", code="url_not_allowed"
                ) from None


def _check_acyclic(steps: list[dict]) -> None:
    deps = {s["key"]: set(s["depends_on"]) for s in steps}
    done: set[str] = set()
    while len(done) < len(deps):
        ready = [k for k, d in deps.items() if k not in done and d <= done]
        if not ready:
            cycle = sorted(k for k in deps if k not in done)
            raise ValidationError(
                f"The steps depend on each other in a cycle: {', '.join(cycle)}.",
                code="workflow_cycle",
            )
        done.update(ready)


def workflow_for(*, kind: str, product=None) -> list[dict]:
    """The validated steps fulfilling an order of `kind` for `product` (None: default)."""
    row = None
    if product is not None:
        row = Workflow.objects.filter(product=product, kind=kind, active=True).first()
    if row is None:
        row = Workflow.objects.filter(product__isnull=True, kind=kind, active=True).first()
    steps = row.steps if row is not None else DEFAULT_WORKFLOWS[kind]
    return workflow_validate(steps, check_urls=False)  # no lookups here: each call checks
