from rest_framework.permissions import BasePermission


class HasWorkspaceKey(BasePermission):
    """Every API route needs a valid key; the key decides the workspace."""

    message = "An API key is required."

    def has_permission(self, request, view) -> bool:
        return request.auth is not None and getattr(request.user, "workspace", None) is not None
