"""What the served schema says beyond what drf-spectacular infers (imported by ApiConfig.ready).

`ApiAutoSchema` (DEFAULT_SCHEMA_CLASS) gives every operation a summary and a description, the
error answers it can give (one `Error` component), the `Idempotency-Key` header on POST, and
`additionalProperties: false` on inputs that refuse unknown fields.
"""

import copy
import inspect

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, get_doc
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from api.serializers import StrictSerializer

ERROR_TYPES = [
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "conflict",
    "state",
    "rate_limit",
    "gateway",
    "api_error",
]

ERROR_ANSWERS = {
    "400": "The request is invalid: a field, a query parameter or the JSON itself "
    "(`invalid_request`).",
    "401": "No key, or an unknown, revoked or expired one (`authentication`).",
    "403": "The key lacks the scope this operation needs (`permission`).",
    "404": "No such object (`not_found`).",
    "409": "A conflict: the `Idempotency-Key` was used with another body or is still being "
    "processed, or the object is taken (`conflict`).",
    "413": "The request body is larger than the server accepts (`invalid_request`).",
    "415": "The body's media type is not one this operation takes (`invalid_request`).",
    "422": "Not allowed in the object's current state (`state`).",
    "429": "Too many requests with this key (`rate_limited`), or too many failed "
    "authentications from this address (`too_many_failed_authentications`); retry after "
    "`Retry-After` seconds (`rate_limit`).",
}
# Response headers of error answers, by status.
ERROR_HEADERS = {
    "429": {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 1},
            "description": "Seconds to wait before the next request.",
            "required": True,
        }
    },
}


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True, help_text="Dotted path of the field; null: the whole request."
    )
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorDetailSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[(t, t) for t in ERROR_TYPES])
    code = serializers.CharField(help_text="Stable, machine-readable reason: `does_not_exist`…")
    message = serializers.CharField(help_text="For a person; may change.")
    field = serializers.CharField(
        allow_null=True, help_text="The field (dotted path) or header at fault; null if none."
    )
    errors = ErrorItemSerializer(
        many=True,
        required=False,
        help_text="Every field error when validation found several (400 only).",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    error = ErrorDetailSerializer()


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Makes a retry safe: the same key with the same body answers the first "
    "response again and does nothing new; with a different body, 409. Kept for 24 hours.",
)

# Summaries of the operations whose action name reads badly as one.
SUMMARIES = {
    "access_check": "Check access to a feature",
    "balances_retrieve": "Get a customer's balances",
    "reconciliation_retrieve": "Get the reconciliation report",
    "events_batch_create": "Send a batch of usage events",
    "events_create": "Send a usage event",
    "invoices_pdf_retrieve": "Download an invoice as PDF",
    "payments_received_create": "Record a payment received outside a gateway",
    "subscriptions_upcoming_invoice_retrieve": "Preview a subscription's upcoming invoice",
    "subscriptions_usage_retrieve": "Get a subscription's usage this period",
    "customers_seats_check_reduction_create": "Check a seat reduction",
    "customers_entitlements_retrieve": "Get a customer's entitlements",
    "invoices_mark_paid_create": "Mark an invoice paid",
    "invoices_mark_uncollectible_create": "Mark an invoice uncollectible",
    "subscriptions_undo_cancel_create": "Undo a scheduled cancellation",
    "subscriptions_sla_credits_list": "List a subscription's SLA credits",
    "subscriptions_sla_credits_create": "Report a period's uptime for SLA credit",
    "bank_transfers_import_create": "Import a bank statement",
    "customers_payment_methods_default_create": "Make a payment method the default",
    "webhook_endpoints_deliveries_list": "List an endpoint's deliveries",
    "webhook_endpoints_rotate_secret_create": "Rotate an endpoint's signing secret",
    "webhook_deliveries_redeliver_create": "Send a webhook delivery again",
    "bank_transfers_assign_create": "Assign a bank transfer by hand",
    "payments_refund_create": "Refund a payment",
    "payments_create": "Charge an open invoice",
    "customers_seats_create": "Assign a seat",
    "customers_payment_methods_create": "Add a payment method",
}

STANDARD_ACTIONS = {"list", "create", "retrieve", "partial_update", "update", "destroy"}

# The first line of a description, where the generated one would read badly ("" for none).
LINES = {
    "access_check": "",
    "events_create": "Records one usage event.",
    "balances_retrieve": "",
    "reconciliation_retrieve": "",
    "customers_entitlements_retrieve": "",
}

# Descriptions of actions that have no docstring of their own (shown above the resource's).
ACTION_TEXT = {
    "archive": "Archives it: it stays readable but takes no new use.",
    "unarchive": "Takes it out of the archive.",
    "finalize": "Finalizes a draft invoice: it gets its number and is issued (422 otherwise).",
    "void": "Voids an open invoice: nothing is due any more (422 for a paid invoice).",
    "mark_paid": "Records that an open invoice was paid outside the API's payments.",
    "mark_uncollectible": "Writes an open invoice off as uncollectible.",
    "cancel": "Cancels the subscription at once or at the end of the current period.",
    "change": "Changes plan, quantity or add-ons, prorated; `preview: true` only shows the result.",
    "pause": "Pauses the subscription: no access and no invoices until resumed.",
    "resume": "Resumes a paused subscription.",
    "upcoming_invoice": "The invoice the subscription's next renewal would issue, as it stands "
    "now; it is not stored, so `id`, `number` and `created_at` are null.",
    "default": "Makes this payment method the customer's default.",
    "detach": "Detaches the payment method: it can no longer be charged.",
    "transfer": "Gives the seat to another user.",
    "unassign": "Frees the seat.",
    "revoke": "Revokes the key at once.",
    "rotate": "Replaces the key by a new one (its secret is in this response, once).",
    "assign": "Matches an unmatched transfer to a customer (and its invoices) by hand.",
    "ignore": "Marks a transfer as not ours to match.",
    "import_statement": "Imports a bank statement; new transfers are matched at once.",
    "approve": "Approves a payment held for review.",
    "reject": "Rejects a payment held for review.",
    "refresh": "Asks the gateway for the payment's current state.",
    "refund": "Refunds all or part of a succeeded payment.",
    "received": "Records money received outside a gateway (cash, cheque) against invoices.",
    "deactivate": "Stops the alert from firing.",
    "disable": "Stops sending events to this endpoint.",
    "enable": "Sends events to this endpoint again.",
    "rotate_secret": "Replaces the signing secret (the new one is in this response, once).",
    "deliveries": "The deliveries sent to this endpoint, newest first.",
    "pdf": "The invoice as a PDF document (`application/pdf`).",
    "batch": "Up to 1,000 events, each answered with its own result.",
}


def _noun(path: str, custom_action: bool) -> str:
    """The resource a path names, singular: `/api/v1/usage-alerts/{id}/` → `usage alert`."""
    parts = [p for p in path.split("/") if p]
    parts = parts[2:] if parts[:2] == ["api", "v1"] else parts
    if custom_action and len(parts) > 1:
        parts = parts[:-1]
    names = [p for p in parts if not p.startswith("{")]
    word = names[-1] if names else "object"
    word = word.replace("-", " ")
    if word == "addons":
        return "add-on"
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") else word


def _plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2] not in "aeiou" else noun + "s"


def _article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeio' else 'a'} {noun}"


SHARED_BASES = ("api.views", "api.serializers", "rest_framework", "django", "builtins")


def _class_doc(view_class) -> str:
    """The docstring of a view's or serializer's own classes (the shared bases' describe
    code, not the API)."""
    for cls in view_class.__mro__:
        if cls.__module__.startswith(SHARED_BASES):
            continue
        if cls.__dict__.get("__doc__"):
            return inspect.cleandoc(cls.__doc__)
    return ""


class ApiAutoSchema(AutoSchema):
    def _action(self) -> str:
        return getattr(self.view, "action", None) or self.method.lower()

    def _custom(self) -> bool:
        return self._action() not in STANDARD_ACTIONS

    def get_summary(self):
        operation_id = self.get_operation_id()
        if operation_id in SUMMARIES:
            return SUMMARIES[operation_id]
        noun = _noun(self.path, self._custom())
        action = self._action()
        standard = {
            "list": f"List {_plural(noun)}",
            "create": f"Create {_article(noun)}",
            "retrieve": f"Get {_article(noun)}",
            "partial_update": f"Update {_article(noun)}",
        }
        if action in standard:
            return standard[action]
        verb = action.strip("_").replace("_", " ").capitalize()
        return f"{verb} {_article(noun)}"

    def get_description(self):
        """The action's own docstring, else a line for the action above the resource's
        docstring."""
        action = self._action()
        own = get_doc(getattr(self.view, action, None))
        if own:
            return own
        noun = _noun(self.path, self._custom())
        code = getattr(self.view, "code_field", None)
        by = f"by id or by `{code}`" if code else "by id"
        lines = {
            "list": f"One page of {_plural(noun)} (`?limit=&cursor=`, then `next_cursor`), "
            "filtered by the query parameters.",
            "create": f"Creates {_article(noun)}.",
            "retrieve": f"The {noun}, addressed {by}.",
            "partial_update": f"Changes the fields given; the {noun} is addressed {by}.",
        }
        operation_id = self.get_operation_id()
        if operation_id in LINES:
            line = LINES[operation_id]
        else:
            line = lines.get(action) or ACTION_TEXT.get(action, "")
        return "\n\n".join(text for text in (line, _class_doc(self.view.__class__)) if text)

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == "POST":
            parameters = [*parameters, IDEMPOTENCY_KEY]
        return parameters

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        instance = force_instance(serializer)
        schema.pop("description", None)
        doc = _class_doc(instance.__class__)
        if doc:
            schema["description"] = doc
        if direction == "request" and isinstance(instance, StrictSerializer):
            schema["additionalProperties"] = False
        return schema

    def error_codes(self) -> list[str]:
        """The 4xx answers this operation can give."""
        if self.method == "DELETE":  # no body, no query: only who asks and what is named
            return ["401", "403", "404", "429"]
        codes = ["400", "401", "403"]
        if "{" in self.path or self.method != "GET" or not self._is_list_view():
            codes.append("404")  # a path, body or query parameter names an unknown object
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["409", "413", "415", "422"]
        return [*codes, "429"]

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code in self.error_codes():
            responses.setdefault(code, {"description": ERROR_ANSWERS[code]})
            responses[code].setdefault("content", {"application/json": {"schema": error}})
            if code in ERROR_HEADERS:
                responses[code].setdefault("headers", copy.deepcopy(ERROR_HEADERS[code]))
        return responses


class SingleObjectAutoSchema(ApiAutoSchema):
    """For a `list` route that answers one object (not a page of them)."""

    def _is_list_view(self, serializer=None):
        return False


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiKeyAuthentication"
    name = "secretKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <secret key>`; keys have read/write scopes.",
        }
