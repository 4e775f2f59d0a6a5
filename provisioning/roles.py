"""What each customer user role may do: the one table the portal and the API enforce.

A permission is a plain string; `role_allows(role, permission)` is the only question asked.
Owners can do everything; an unknown role or permission is never allowed.
"""

from customers.models import CustomerRole


class Permission:
    VIEW = "view"
    MANAGE_TEAM = "manage_team"
    MANAGE_SEATS = "manage_seats"
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_BILLING = "manage_billing"
    MANAGE_ACCOUNT = "manage_account"  # cancel, transfer ownership

    ALL = frozenset(
        {VIEW, MANAGE_TEAM, MANAGE_SEATS, MANAGE_API_KEYS, MANAGE_BILLING, MANAGE_ACCOUNT}
    )


P = Permission

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    CustomerRole.OWNER: P.ALL,
    CustomerRole.ADMIN: frozenset(
        {P.VIEW, P.MANAGE_TEAM, P.MANAGE_SEATS, P.MANAGE_API_KEYS, P.MANAGE_BILLING}
    ),
    CustomerRole.BILLING: frozenset({P.VIEW, P.MANAGE_BILLING}),
    CustomerRole.MEMBER: frozenset({P.VIEW}),
    CustomerRole.VIEWER: frozenset({P.VIEW}),
}


def role_allows(role: str, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def role_permissions(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())
