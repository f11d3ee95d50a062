"""The audit log: who changed a workspace's settings, domains, keys, webhooks and members.

Services call ``record(workspace, action, target, changes)`` after a change; they never pass
the actor. The actor comes from a context variable set once per request by
``AuditActorMiddleware`` (the request is kept, and read when an entry is written, because the
API authenticates its key inside the view, after the middleware ran), or by ``acting(...)``
around a management command or a task. Without either, the change was the system's own.

``changes`` is ``{field: [old, new]}``. A field whose name says it is a secret (password,
secret, key, token, credentials …) is stored as ``"changed"`` and nothing else, whatever the
caller passed, so no secret ever lands in the log."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import HttpRequest

from mailcrm.client_ip import client_ip
from mailcrm.models import ApiKey, AuditEntry, AuditVia, Workspace

CHANGED = "changed"
# Any field whose name contains one of these is a secret: only the fact of a change is kept.
_SECRET_WORDS = ("password", "secret", "key_hash", "token", "credential", "private", "esp_settings")
_SECRET_NAMES = {"key", "api_key", "dkim_private_key", "signing_key"}
_LABEL_MAX = 300


@dataclass(frozen=True)
class Actor:
    """Who acts, as written on an entry."""

    via: str = AuditVia.SYSTEM
    user: Any = None
    api_key: ApiKey | None = None
    label: str = ""
    ip_address: str | None = None


SYSTEM = Actor(via=AuditVia.SYSTEM, label="system")

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


def is_secret(field: str) -> bool:
    name = field.lower()
    return name in _SECRET_NAMES or any(word in name for word in _SECRET_WORDS)


@contextlib.contextmanager
def acting(
    *, via: str = AuditVia.CLI, user: Any = None, label: str = "", ip_address: str | None = None
) -> Iterator[Actor]:
    """Name the actor for the changes made inside the block (management commands, tasks run
    for someone). Overrides the request's actor."""
    actor = Actor(
        via=via, user=user, label=label or (user.email if user else via), ip_address=ip_address
    )
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


@contextlib.contextmanager
def as_user(user: Any) -> Iterator[Actor]:
    """Name ``user`` as the actor inside the block, keeping the front door and address: for a
    request whose person is only known once the service has made them (an invitation accepted
    by someone who just chose a password)."""
    actor = dataclasses.replace(
        current_actor(), user=user, api_key=None, label=getattr(user, "email", str(user))
    )
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    """The actor of the change being made: ``acting``'s, else the current request's, else the
    system."""
    actor = _actor.get()
    if actor is not None:
        return actor
    request = _request.get()
    return _request_actor(request) if request is not None else SYSTEM


def _request_actor(request: HttpRequest) -> Actor:
    via = _via(request)
    ip_address = client_ip(request)  # as the rate limits see it (TRUSTED_PROXIES)
    key = getattr(request, "auth", None)
    if isinstance(key, ApiKey):
        # DRF copies the authenticated key onto the Django request (Request.auth's setter).
        return Actor(
            via=via, api_key=key, label=f"API key {key.name} ({key.prefix})", ip_address=ip_address
        )
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False) and user.pk is not None:
        return Actor(via=via, user=user, label=user.email, ip_address=ip_address)
    return Actor(via=via, label="anonymous", ip_address=ip_address)


def _via(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.app_name == "admin":
        return AuditVia.ADMIN
    path = request.path_info
    if path.startswith("/api/"):
        return AuditVia.API
    if path.startswith("/admin/"):
        return AuditVia.ADMIN
    return AuditVia.DASHBOARD


class AuditActorMiddleware:
    """Keeps the request in a context variable for the length of the request, so ``record``
    can name who acts without every service taking an actor parameter."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


# --- writing -----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, models.QuerySet | set | frozenset):
        return sorted(str(item) for item in value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def clean_changes(changes: dict[str, Any] | None) -> dict[str, Any]:
    """The changes as JSON (``{field: [old, new]}`` for an update, ``{field: value}`` for what
    a creation set), with every secret field reduced to ``"changed"``."""
    cleaned = {
        field: CHANGED if is_secret(field) else _plain(value)
        for field, value in (changes or {}).items()
    }
    return json.loads(json.dumps(cleaned, cls=DjangoJSONEncoder))


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of ``fields`` (take one before a change, ``diff`` it after)."""
    return {field: getattr(obj, field) for field in fields}


def diff(before: dict[str, Any], obj: models.Model) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields of ``before`` whose value on ``obj`` differs."""
    return {
        field: [old, getattr(obj, field)]
        for field, old in before.items()
        if getattr(obj, field) != old
    }


def _fields(obj: models.Model, fields: Iterable[str] | None) -> list[str]:
    if fields is not None:
        return list(fields)
    return [
        field.attname
        for field in obj._meta.concrete_fields
        if field.editable and not field.primary_key and field.name != "workspace"
    ]


def values(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """``{field: value}`` of the non-empty ``fields`` (default: every editable column): what
    a creation set."""
    found = {field: getattr(obj, field) for field in _fields(obj, fields)}
    return {field: value for field, value in found.items() if value not in (None, "", [], {})}


def pending_changes(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """What saving the unsaved ``obj`` will change: ``{field: [stored, new]}`` against its
    row in the database, or ``values(obj)`` for a new object. Call it just before ``save()``
    where the old values were not kept (forms edit the instance before a service saves it)."""
    fields = _fields(obj, fields)
    if obj._state.adding or obj.pk is None:
        return values(obj, fields)
    stored = type(obj)._default_manager.filter(pk=obj.pk).values(*fields).first() or {}
    return {
        field: [stored.get(field), getattr(obj, field)]
        for field in fields
        if stored.get(field) != getattr(obj, field)
    }


def _target(target: models.Model | None) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    return target._meta.model_name, str(target.pk or ""), str(target)[:_LABEL_MAX]


def record(
    workspace: Workspace | Any,
    action: str,
    target: models.Model | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry | None:
    """Write one entry: ``action`` (``<thing>.<verb>``, e.g. ``api_key.revoked``) on
    ``target`` in ``workspace`` by the current actor. Called by services after the change,
    in its transaction when it has one, so a change that rolls back leaves no entry.

    ``changes={}`` (a diff that found nothing) writes nothing: saving a form unchanged is not
    a change. Pass ``None`` for an action that has no fields to show (a revocation)."""
    if changes is not None and not changes:
        return None
    actor = current_actor()
    target_type, target_id, target_label = _target(target)
    workspace_id = workspace.pk if isinstance(workspace, Workspace) else workspace
    return AuditEntry.objects.create(
        workspace_id=workspace_id,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:_LABEL_MAX],
        via=actor.via,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        changes=clean_changes(changes),
        ip_address=actor.ip_address,
    )
