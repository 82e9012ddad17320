"""The admin's roles, applied to the API: the same permission codenames, action by action."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class RolePermissions(BasePermission):
    """Allow an action only to an active user holding every permission the view lists for it.

    Views name their needs in ``required_permissions`` keyed by action (list,
    retrieve, retry …), using the codenames the admin and the role groups use,
    so a role means the same thing in both places. An action the view does not
    list is refused: a new action cannot slip through unguarded.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        required = getattr(view, "required_permissions", {}).get(view.action)
        user = request.user
        return bool(
            required is not None
            and user
            and user.is_authenticated
            and user.is_active
            and user.has_perms(required)
        )
