"""The base of every API view: idempotent POSTs and lookup by id or by code."""

from django.http import Http404
from django.utils import timezone
from rest_framework import viewsets
from rest_framework.response import Response

from api.errors import DomainError
from api.idempotency import (
    idempotency_begin,
    idempotency_complete,
    idempotency_replay,
    request_fingerprint,
)


def is_id(value: str) -> bool:
    """A database id: ASCII digits ("²" is a digit to Python), within a bigint."""
    return value.isascii() and value.isdigit() and len(value) <= 18


def lookup_by_id_or_code(queryset, value: str, code_field: str | None):
    """The object whose id is `value` (tried first when it looks like one) or whose
    `code_field` is `value`; None when there is none."""
    obj = queryset.filter(pk=int(value)).first() if is_id(value) else None
    if obj is None and code_field:
        obj = queryset.filter(**{code_field: value}).first()
    return obj


def lookup_required(queryset, value, code_field: str | None, field: str):
    """`lookup_by_id_or_code` for a reference in a request body: a 400 `does_not_exist` on
    `field` when there is no such object."""
    obj = lookup_by_id_or_code(queryset, str(value), code_field)
    if obj is None:
        raise DomainError(f"No such {field}: {value}.", code="does_not_exist", field=field)
    return obj


class _Replay(Exception):  # noqa: N818 - internal control flow, never escapes the view
    def __init__(self, record):
        self.record = record


class ApiViewSet(viewsets.GenericViewSet):
    """Objects are addressed by `id` or by `code_field` (`code`, `external_id`).

    A value made of digits is tried as an id first.
    """

    code_field: str | None = None
    lookup_value_regex = "[^/]+"
    _idempotency_record = None

    def lookup_queryset(self):
        return self.get_queryset()

    def get_object(self):
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        obj = lookup_by_id_or_code(self.lookup_queryset(), value, self.code_field)
        if obj is None:
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None:
            return
        fingerprint = request_fingerprint(
            method=request.method, path=request.path, body=request.data
        )
        record, done = idempotency_begin(
            api_key=request.auth,
            key=key,
            method=request.method,
            path=request.path,
            fingerprint=fingerprint,
            at=timezone.now(),
        )
        if done is not None:
            raise _Replay(done)
        self._idempotency_record = record

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return idempotency_replay(exc.record)
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._idempotency_record is not None:
            idempotency_complete(
                record=self._idempotency_record, response=response, at=timezone.now()
            )
            self._idempotency_record = None
        return response


class ListRetrieveMixin:
    """`list` and `retrieve` answered with `output_serializer_class`."""

    output_serializer_class = None

    def get_serializer_class(self):
        return self.output_serializer_class

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.output_serializer_class(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return self.respond(self.get_object())

    def respond(self, instance, status: int = 200) -> Response:
        return Response(self.output_serializer_class(instance).data, status=status)

    @staticmethod
    def validated(serializer_class, data, **kwargs) -> dict:
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)
