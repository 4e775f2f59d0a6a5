"""One exception handler that turns every error into the contract's error body.

`{"error": {"type", "code", "message", "field"}}`, plus `errors` listing every
field error when validation found several.
"""

import logging
import math

from django.conf import settings
from django.core import exceptions as django_exceptions
from django.http import Http404, JsonResponse
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule refused the request; subclasses set the HTTP status and type."""

    status_code = status.HTTP_400_BAD_REQUEST
    error_type = "invalid_request"
    default_code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    error_type = "conflict"
    default_code = "conflict"


class StateError(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    error_type = "state"
    default_code = "transition_not_allowed"


def error_text(exc: Exception) -> str:
    """A refused operation as one line for a person (admin messages, portal messages): a
    ValidationError's messages, else the exception's `message` or text, else its name."""
    if isinstance(exc, django_exceptions.ValidationError):
        return " ".join(exc.messages)
    return getattr(exc, "message", None) or str(exc) or exc.__class__.__name__


def error_body(error_type: str, code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"type": error_type, "code": code, "message": message, "field": field}}


def flatten_errors(detail, path: str = "") -> list[tuple[str | None, exceptions.ErrorDetail]]:
    """DRF's nested error detail as (dotted field path, error) pairs, in order."""
    if isinstance(detail, dict):
        pairs = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            pairs += flatten_errors(value, f"{path}.{name}" if path and name else path or name)
        return pairs
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [(path or None, item) for item in detail]
        pairs = []
        for index, value in enumerate(detail):
            pairs += flatten_errors(value, f"{path}.{index}" if path else str(index))
        return pairs
    return [(path or None, detail)]


def _details(errors: list[django_exceptions.ValidationError]) -> list[exceptions.ErrorDetail]:
    return [
        exceptions.ErrorDetail(message, code=error.code or "invalid")
        for error in errors
        for message in error.messages
    ]


def django_error_detail(exc: django_exceptions.ValidationError) -> dict:
    """A Django ValidationError as DRF error detail, keeping each error's code."""
    if hasattr(exc, "error_dict"):
        return {
            field if field != "__all__" else "non_field_errors": _details(errors)
            for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": _details(exc.error_list)}


def _validation_response(detail) -> Response:
    pairs = flatten_errors(detail)
    items = [
        {"field": field, "code": getattr(err, "code", None) or "invalid", "message": str(err)}
        for field, err in pairs
    ] or [{"field": None, "code": "invalid", "message": "Invalid request."}]
    body = error_body("invalid_request", items[0]["code"], items[0]["message"], items[0]["field"])
    body["error"]["errors"] = items
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


_DRF_TYPES = {
    exceptions.NotAuthenticated: ("authentication", status.HTTP_401_UNAUTHORIZED),
    exceptions.AuthenticationFailed: ("authentication", status.HTTP_401_UNAUTHORIZED),
    exceptions.PermissionDenied: ("permission", status.HTTP_403_FORBIDDEN),
    exceptions.NotFound: ("not_found", status.HTTP_404_NOT_FOUND),
    exceptions.Throttled: ("rate_limit", status.HTTP_429_TOO_MANY_REQUESTS),
}


def too_large_body() -> dict:
    """The answer (413) to a body over DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = f"The request body is larger than the limit of {limit} bytes."
    return error_body("invalid_request", "request_too_large", message)


def exception_handler(exc, context):
    if isinstance(exc, django_exceptions.RequestDataTooBig):
        return Response(too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc.detail)
    if isinstance(exc, django_exceptions.ValidationError):
        return _validation_response(django_error_detail(exc))
    if isinstance(exc, DomainError):
        body = error_body(exc.error_type, exc.code, exc.message, exc.field)
        return Response(body, status=exc.status_code)
    if isinstance(exc, TransitionNotAllowed):
        body = error_body(
            "state", "transition_not_allowed", str(exc) or "Not allowed in this state."
        )
        return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, Http404 | django_exceptions.ObjectDoesNotExist):
        return Response(error_body("not_found", "not_found", "No such object."), status=404)
    if isinstance(exc, exceptions.APIException):
        error_type, code_status = next(
            (kind for cls, kind in _DRF_TYPES.items() if isinstance(exc, cls)),
            ("invalid_request", exc.status_code),
        )
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        response = Response(error_body(error_type, code, str(exc.detail)), status=code_status)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(max(1, math.ceil(exc.wait)))  # whole seconds
        return response
    logger.exception("unhandled error in API view", exc_info=exc)
    return Response(
        error_body("api_error", "internal_error", "Something went wrong on our side."), status=500
    )


def api_bad_request(request, exception=None):
    """handler400 for /api/ URLs served by plain Django views: a body over the size limit is
    a 413 in the error format, anything else a 400 in it."""
    if isinstance(exception, django_exceptions.RequestDataTooBig):
        return JsonResponse(too_large_body(), status=413)
    return JsonResponse(error_body("invalid_request", "bad_request", "Bad request."), status=400)


def api_not_found(request, exception=None):
    """handler404 for /api/ URLs that match no route."""
    return JsonResponse(
        error_body("not_found", "unknown_url", f"No endpoint at {request.path}."), status=404
    )
