"""`?limit=&cursor=` pagination over ascending ids: `{"results": [...], "next_cursor": ...}`."""

import base64

from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = text.split(":", 1)
        if prefix != "id" or not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise ValueError(text)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise exceptions.ValidationError(
            {"cursor": ["Invalid cursor."]}, code="invalid_cursor"
        ) from None


class IdCursorPagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
        if (
            not (raw_limit.isascii() and raw_limit.isdigit())
            or not 1 <= int(raw_limit) <= MAX_LIMIT
        ):
            raise exceptions.ValidationError(
                {"limit": [f"limit must be a whole number from 1 to {MAX_LIMIT}."]}
            )
        limit = int(raw_limit)
        queryset = queryset.order_by("pk")
        cursor = request.query_params.get("cursor")
        if cursor:
            queryset = queryset.filter(pk__gt=decode_cursor(cursor))
        page = list(queryset[: limit + 1])
        self.next_cursor = encode_cursor(page[limit - 1].pk) if len(page) > limit else None
        return page[:limit]

    def get_paginated_response(self, data):
        return Response({"results": data, "next_cursor": self.next_cursor})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next_cursor"],
            "properties": {"results": schema, "next_cursor": {"type": "string", "nullable": True}},
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
        ]
