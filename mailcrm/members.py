"""Workspace settings, members and invitations: the verbs behind the settings pages.

An invitation link carries a signed token naming the invitation row; the row holds the expiry,
so an admin can revoke a link and the signature alone never grants anything."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from mailcrm import audit
from mailcrm.models import Invitation, Membership, Role, Workspace

INVITATION_SALT = "mailcrm.invitation"
INVITATION_TTL = timedelta(days=7)
WORKSPACE_SETTINGS = [
    "name",
    "default_from_name",
    "default_from_email",
    "physical_address",
    "time_zone",
    "send_window",
]


@transaction.atomic
def workspace_update(
    *,
    workspace: Workspace,
    name: str,
    default_from_name: str = "",
    default_from_email: str = "",
    physical_address: str = "",
    time_zone: str = "UTC",
    send_window: dict | None = None,
) -> Workspace:
    """Change the workspace's own settings (name, default sender, footer address, time zone,
    and — when given — the send window of its campaigns, ``{}`` for any time)."""
    from campaigns.windows import clean_window

    errors: dict[str, list[str]] = {}
    if send_window is not None:
        try:
            send_window = clean_window(send_window)
        except ValidationError as exc:
            errors |= exc.message_dict
    if not name.strip():
        errors["name"] = ["A workspace needs a name."]
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = ["Unknown time zone: use an IANA name such as Europe/Paris."]
    if default_from_email:
        try:
            validate_email(default_from_email)
        except ValidationError:
            errors["default_from_email"] = ["Enter a valid email address."]
    if errors:
        raise ValidationError(errors)
    before = audit.snapshot(workspace, WORKSPACE_SETTINGS)
    workspace.name = name.strip()
    workspace.default_from_name = default_from_name.strip()
    workspace.default_from_email = default_from_email.strip()
    workspace.physical_address = physical_address.strip()
    workspace.time_zone = time_zone
    if send_window is not None:
        workspace.send_window = send_window
    workspace.save(update_fields=WORKSPACE_SETTINGS)
    audit.record(workspace, "workspace.updated", workspace, audit.diff(before, workspace))
    return workspace


def _check_may_grant(actor: Membership | None, role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": ["Unknown role."]})
    if role == Role.OWNER and (actor is None or actor.role != Role.OWNER):
        raise ValidationError({"role": ["Only an owner can make someone an owner."]})


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(str(invitation.pk), salt=INVITATION_SALT)


def invitation_url(invitation: Invitation) -> str:
    path = reverse("dashboard:invitation_accept", args=[invitation_token(invitation)])
    return f"{settings.PUBLIC_BASE_URL}{path}"


def invitation_from_token(token: str) -> Invitation | None:
    """The open invitation a token names, or None (forged, expired, used or revoked)."""
    try:
        pk = signing.loads(token, salt=INVITATION_SALT)
    except signing.BadSignature:
        return None
    invitation = Invitation.objects.select_related("workspace").filter(pk=pk).first()
    return invitation if invitation is not None and invitation.is_open else None


@transaction.atomic
def invitation_create(
    *, workspace: Workspace, email: str, role: str, invited_by=None, actor: Membership | None = None
) -> tuple[Invitation, str]:
    """Invite ``email`` in ``role``; mails the link (transactional pipeline) and returns
    (invitation, link) so the page can show the link too. A new invitation to the same
    address replaces an open one."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": ["Enter a valid email address."]}) from None
    _check_may_grant(actor, role)
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ValidationError({"email": ["This person is already a member."]})
    now = timezone.now()
    Invitation.objects.for_workspace(workspace).pending().filter(email__iexact=email).update(
        revoked_at=now
    )
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        invited_by=invited_by,
        expires_at=now + INVITATION_TTL,
    )
    link = invitation_url(invitation)
    audit.record(workspace, "invitation.created", invitation, {"email": email, "role": role})
    _send_invitation(invitation, link)
    return invitation, link


def _send_invitation(invitation: Invitation, link: str) -> None:
    from campaigns.transactional import email_queue

    workspace = invitation.workspace
    email_queue(
        workspace=workspace,
        data={
            "from_email": workspace.default_from_email or settings.DEFAULT_FROM_EMAIL,
            "from_name": workspace.default_from_name or workspace.name,
            "to": [invitation.email],
            "subject": f"You are invited to {workspace.name} on mailcrm",
            "text": (
                f"You are invited to join {workspace.name} as {invitation.get_role_display()}.\n\n"
                f"Accept within 7 days: {link}\n"
            ),
            "tag": "invitation",
        },
    )


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(invitation.workspace_id, "invitation.revoked", invitation)
    return invitation


@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, user=None, password: str | None = None, full_name: str = ""
) -> Membership:
    """Join the workspace: as ``user`` when signed in (their address must be the invited one),
    else as a new user made with ``password``. Works once: the row is claimed first."""
    claimed = Invitation.objects.filter(
        pk=invitation.pk,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).update(accepted_at=timezone.now())
    if not claimed:
        raise ValidationError("This invitation has expired or was already used.")
    User = get_user_model()
    if user is None:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise ValidationError("An account with this address exists: sign in to accept.")
        if not password:
            raise ValidationError({"password": ["Choose a password."]})
        validate_password(password)
        user = User.objects.create_user(invitation.email, password, full_name=full_name.strip())
    elif user.email.lower() != invitation.email.lower():
        raise ValidationError(f"This invitation is for {invitation.email}.")
    membership, _ = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    with audit.as_user(user):  # a new user was anonymous until now
        audit.record(
            invitation.workspace, "invitation.accepted", membership, {"role": membership.role}
        )
    return membership


def _owners_left(workspace_id, excluding: Membership) -> int:
    # Lock the owners' rows so two admins removing the last two owners at once cannot both win.
    owners = list(
        Membership.objects.select_for_update()
        .filter(workspace_id=workspace_id, role=Role.OWNER)
        .exclude(pk=excluding.pk)
        .values_list("pk", flat=True)
    )
    return len(owners)


@transaction.atomic
def membership_change_role(
    *, membership: Membership, role: str, actor: Membership | None = None
) -> Membership:
    """Give a member another role; owners are made and unmade by owners only, and the last
    owner stays an owner."""
    _check_may_grant(actor, role)
    if membership.role == Role.OWNER and role != Role.OWNER:
        if actor is None or actor.role != Role.OWNER:
            raise ValidationError({"role": ["Only an owner can change an owner's role."]})
        if not _owners_left(membership.workspace_id, membership):
            raise ValidationError({"role": ["A workspace keeps at least one owner."]})
    changes = {"role": [membership.role, role]}
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(membership.workspace_id, "membership.role_changed", membership, changes)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Membership | None = None) -> None:
    """Take someone out of the workspace; never the last owner, and owners only by owners."""
    if membership.role == Role.OWNER:
        if actor is None or actor.role != Role.OWNER:
            raise ValidationError("Only an owner can remove an owner.")
        if not _owners_left(membership.workspace_id, membership):
            raise ValidationError("A workspace keeps at least one owner: make someone else owner.")
    audit.record(
        membership.workspace_id, "membership.removed", membership, {"role": membership.role}
    )
    membership.delete()
