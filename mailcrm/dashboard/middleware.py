"""Resolve the signed-in user's current workspace once per request."""

from __future__ import annotations

from mailcrm.models import Membership

SESSION_KEY = "workspace_id"


class CurrentWorkspaceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.workspace = None
        request.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = Membership.objects.filter(user=user).select_related("workspace")
            wanted = request.session.get(SESSION_KEY)
            membership = None
            if wanted:
                membership = memberships.filter(workspace_id=wanted).first()
            if membership is None:
                membership = memberships.order_by("workspace__name").first()
            if membership is not None:
                request.membership = membership
                request.workspace = membership.workspace
        return self.get_response(request)
