"""What an API key may do. Every API request needs one of three scopes:

- ``read``: a safe method (GET, HEAD, OPTIONS);
- ``write``: any other method, unless the view says otherwise;
- ``send``: the calls that send mail, which a view names in ``api_scopes``.

A full-access key holds all three; a read-only key holds ``read``; a sending-only key holds
``send``, and ``read`` on the views that show what it sends (``sending_readable = True``).

``KeyScopePermission`` is a default permission class (settings.REST_FRAMEWORK), so a new
endpoint is covered without declaring anything: its writes need ``write``. A view declares
the exceptions only: ``api_scopes = {"send": SEND}`` keyed by viewset action or, on a plain
APIView, by lower-case method name.

A key may also be limited to some sending domains: ``ensure_may_send_from`` is asked by every
view that sends, with the From address, before it queues anything."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from mailcrm.exceptions import DomainError
from mailcrm.models import ApiKey, ApiKeyScope

READ = "read"
WRITE = "write"
SEND = "send"

_GRANTS = {
    ApiKeyScope.FULL_ACCESS: {READ, WRITE, SEND},
    ApiKeyScope.READ_ONLY: {READ},
    ApiKeyScope.SENDING: {SEND},
}


class MissingScope(DomainError):
    """The key is valid but may not make this call (403, naming the scope it lacks)."""

    status_code = 403
    code = "missing_scope"

    def __init__(self, missing: str, key: ApiKey, what: str):
        label = ApiKeyScope(key.scope).label.lower()
        super().__init__(
            f"This API key is {label}: {what} needs the '{missing}' scope.",
            missing_scope=missing,
            key_scope=key.scope,
        )


def required_scope(request, view) -> str:
    """The scope this request needs: the view's declaration for its action (viewsets) or
    method (APIViews), else read for safe methods and write for the rest."""
    declared = getattr(view, "api_scopes", None) or {}
    action = getattr(view, "action", None)
    if action and action in declared:
        return declared[action]
    method = request.method.lower()
    if method in declared:
        return declared[method]
    return READ if request.method in SAFE_METHODS else WRITE


def grants(key: ApiKey, scope: str, view) -> bool:
    held = _GRANTS.get(key.scope, set())
    if scope in held:
        return True
    # A sending key reads what it sends: the views that show sends say so.
    return (
        scope == READ
        and key.scope == ApiKeyScope.SENDING
        and getattr(view, "sending_readable", False)
    )


class KeyScopePermission(BasePermission):
    """Refuses (403 ``missing_scope``) a call the key's scope does not cover."""

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True  # no key: HasWorkspaceKey answers 401
        scope = required_scope(request, view)
        if not grants(key, scope, view):
            raise MissingScope(scope, key, f"{request.method} {request.path}")
        return True


def ensure_may_send_from(request, *from_emails: str, sending_domain=None) -> None:
    """Refuse (403) a send from a domain the key is not limited to. ``sending_domain`` is the
    campaign's chosen domain, if any; else each From address's domain counts. Keys without
    domains (the default) may send from any."""
    key = request.auth
    if not isinstance(key, ApiKey):
        return
    allowed = {name.lower() for name in key.sending_domains.values_list("domain", flat=True)}
    if not allowed:
        return
    if sending_domain is not None:
        names = [sending_domain.domain.lower()]
    else:
        names = [
            (email or "").rpartition("@")[2].strip().rstrip(".").lower() for email in from_emails
        ]
    for name in names:
        if name not in allowed:
            raise MissingScope(
                f"send:{name or '?'}", key, f"sending from {name or 'an address with no domain'}"
            )
