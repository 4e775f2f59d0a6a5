"""`Authorization: Bearer <secret key>` authentication and read/write scopes."""

from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from api.models import ApiKey
from api.services import api_key_hash

LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header:
            return None
        if len(header) != 2 or header[0] != self.keyword:
            raise exceptions.AuthenticationFailed(
                "Use the header `Authorization: Bearer <secret key>`.", code="malformed_header"
            )
        try:
            key = ApiKey.objects.get(hashed_key=api_key_hash(header[1]))
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed(
                "Unknown API key.", code="invalid_api_key"
            ) from None
        if not key.is_active:
            raise exceptions.AuthenticationFailed(
                "This API key was revoked.", code="revoked_api_key"
            )
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return AnonymousUser(), key

    def authenticate_header(self, request) -> str:
        return self.keyword


class HasApiKeyScope(permissions.BasePermission):
    """Safe methods need the `read` scope, the others `write`; a view may name its own."""

    message = "This API key lacks the scope this request needs."

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            raise exceptions.NotAuthenticated("An API key is required.", code="missing_api_key")
        scope = getattr(view, "required_scope", None)
        if scope is None:
            scope = "read" if request.method in permissions.SAFE_METHODS else "write"
        self.message = f"This API key lacks the `{scope}` scope."
        return key.has_scope(scope)
