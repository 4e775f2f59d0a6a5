"""The Content-Security-Policy header (django-csp; the policy is in settings.py)."""

from csp.middleware import CSPMiddleware


class PolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, adding upgrade-insecure-requests to pages served over HTTPS
    (directly or behind a proxy named by SECURE_PROXY_SSL_HEADER): a plain-HTTP development
    server keeps loading its own http:// files."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if request.is_secure():
            parts.replace = {**(parts.replace or {}), "upgrade-insecure-requests": True}
        return parts
