"""Workspaces, memberships and API keys: the verbs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mailcrm import audit
from mailcrm.models import ApiKey, ApiKeyScope, Membership, Role, Workspace

KEY_PREFIX = "mc"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    """Return (prefix, full key). The prefix is public and unique; the rest is the secret."""
    prefix = f"{KEY_PREFIX}_{secrets.token_hex(4)}"
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


@transaction.atomic
def workspace_create(*, name: str, owner_email: str, owner_password: str | None = None):
    """Create a workspace with its owner (created if new). Returns (workspace, user)."""
    User = get_user_model()
    workspace = Workspace.objects.create(name=name.strip())
    user = User.objects.filter(email__iexact=owner_email.strip()).first()
    if user is None:
        user = User.objects.create_user(owner_email, owner_password)
    elif owner_password:
        user.set_password(owner_password)
        user.save(update_fields=["password"])
    membership = Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    audit.record(workspace, "workspace.created", workspace, {"name": workspace.name})
    audit.record(workspace, "membership.created", membership, {"role": Role.OWNER})
    return workspace, user


@transaction.atomic
def membership_set(*, workspace: Workspace, user, role: str) -> Membership:
    old = Membership.objects.filter(workspace=workspace, user=user).values_list("role", flat=True)
    old_role = old.first()
    membership, created = Membership.objects.update_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    if created or old_role != role:
        action = "membership.created" if created else "membership.role_changed"
        audit.record(workspace, action, membership, {"role": [old_role, role]})
    return membership


@transaction.atomic
def api_key_create(
    *,
    workspace: Workspace,
    name: str,
    created_by=None,
    scope: str = ApiKeyScope.FULL_ACCESS,
    sending_domains=(),
) -> tuple[ApiKey, str]:
    """Make a key; returns (key row, secret). The secret is not stored and cannot be shown again.
    ``scope``: full access, sending only or read only; ``sending_domains`` (the workspace's
    own) limit what it may send from (none: any)."""
    if scope not in ApiKeyScope.values:
        raise ValidationError({"scope": [f"Must be one of: {', '.join(ApiKeyScope.values)}."]})
    sending_domains = list(sending_domains)
    if any(domain.workspace_id != workspace.pk for domain in sending_domains):
        raise ValidationError({"sending_domain_ids": ["Not a sending domain of this workspace."]})
    prefix, secret = _new_secret()
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name.strip() or "API key",
        prefix=prefix,
        key_hash=_digest(secret),
        created_by=created_by,
        scope=scope,
    )
    if sending_domains:
        key.sending_domains.set(sending_domains)
    changes = {"name": key.name, "scope": scope, "sending_domains": sending_domains, "key": True}
    audit.record(workspace, "api_key.created", key, changes)
    return key, secret


@transaction.atomic
def api_key_rotate(*, key: ApiKey) -> tuple[ApiKey, str]:
    """Give the key a new secret; the old one stops working at once."""
    prefix, secret = _new_secret()
    key.prefix = prefix
    key.key_hash = _digest(secret)
    key.rotated_at = timezone.now()
    key.save(update_fields=["prefix", "key_hash", "rotated_at"])
    audit.record(key.workspace_id, "api_key.rotated", key, {"key": True, "prefix": prefix})
    return key, secret


@transaction.atomic
def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit.record(key.workspace_id, "api_key.revoked", key)
    return key


# Compared against when no active key has the presented prefix, so an unknown prefix costs the
# same lookup, digest and comparison as a known prefix with a wrong secret: the answer time
# does not tell which prefixes exist.
_NO_KEY_HASH = _digest(f"{KEY_PREFIX}_00000000_no-such-key")


def _secret_matches(key_hash: str, secret: str) -> bool:
    """The one digest-and-compare of a presented secret (constant time in the digest)."""
    return hmac.compare_digest(key_hash, _digest(secret))


def api_key_authenticate(secret: str) -> ApiKey | None:
    """Find the active key for a presented secret. Every presented secret, well-formed or not,
    known prefix or not, costs one lookup and one ``_secret_matches``."""
    parts = secret.split("_", 2)
    well_formed = len(parts) == 3 and parts[0] == KEY_PREFIX
    prefix = f"{parts[0]}_{parts[1]}" if well_formed else ""
    key = ApiKey.objects.select_related("workspace").active().filter(prefix=prefix).first()
    matches = _secret_matches(key.key_hash if key else _NO_KEY_HASH, secret)
    if key is None or not matches:
        return None
    _touch_last_used(key)
    return key


def _touch_last_used(key: ApiKey) -> None:
    # At most one write a minute per key, so a busy key does not write on every request.
    now = timezone.now()
    if key.last_used_at and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
