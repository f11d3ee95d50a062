"""Settings pages (admins and owners): the workspace, members and invitations, API keys,
sending backends. Views parse, authorise and call ``mailcrm.members`` /
``mailcrm.services`` / ``campaigns.senders``; secrets are shown once on the page answering
the POST that made them."""

from __future__ import annotations

from functools import cached_property

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from campaigns import senders
from campaigns.models import SendingBackend
from campaigns.window_forms import window_initial
from contacts.views.base import PAGE_SIZE, error_text, page_cursor
from mailcrm import audit, members, services
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView, apply_errors
from mailcrm.dashboard.settings_forms import (
    AcceptInvitationForm,
    ApiKeyForm,
    InviteForm,
    RoleForm,
    SendingBackendForm,
    WorkspaceForm,
)
from mailcrm.keyset import keyset_page
from mailcrm.models import ApiKey, Invitation, Membership, Role


def smtp_relay_url() -> str | None:
    """The SMTP relay credentials page, once the smtprelay app provides one."""
    from django.urls import NoReverseMatch

    for name in ("dashboard:smtprelay:credentials", "dashboard:smtprelay:smtp"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


class SettingsMixin(WorkspaceMixin):
    managing = True
    section = ""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            settings_section=self.section, smtp_relay_url=smtp_relay_url(), **kwargs
        )


class WorkspaceSettingsView(SettingsMixin, ServiceFormView):
    template_name = "dashboard/settings/workspace.html"
    form_class = WorkspaceForm
    section = "workspace"
    success_message = "Saved the workspace settings."
    conflict_field = None

    def get_initial(self):
        ws = self.workspace
        return {
            "name": ws.name,
            "default_from_name": ws.default_from_name,
            "default_from_email": ws.default_from_email,
            "physical_address": ws.physical_address,
            "time_zone": ws.time_zone,
        } | window_initial(ws.send_window, inherit=False)

    def perform(self, form):
        return members.workspace_update(workspace=self.workspace, **form.cleaned_data)

    def get_success_url(self):
        return reverse("dashboard:settings")


class MembersView(SettingsMixin, TemplateView):
    template_name = "dashboard/settings/members.html"
    section = "members"

    def get_context_data(self, invite_form=None, **kwargs):
        memberships = self.scoped_memberships().select_related("user").order_by("user__email")
        page = keyset_page(
            memberships, cursor=page_cursor(self.request), size=PAGE_SIZE, descending=False
        )
        invitations = Invitation.objects.for_workspace(self.workspace).pending()[:PAGE_SIZE]
        return super().get_context_data(
            memberships=page.rows,
            next_cursor=page.next_cursor,
            invitations=invitations,
            invite_form=invite_form or InviteForm(),
            roles=Role.choices,
            **kwargs,
        )

    def scoped_memberships(self):
        return Membership.objects.filter(workspace=self.workspace)

    def post(self, request):
        form = InviteForm(request.POST)
        if form.is_valid():
            try:
                invitation, link = members.invitation_create(
                    workspace=self.workspace,
                    invited_by=request.user,
                    actor=self.membership,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"Invited {invitation.email}. The link is mailed.")
                return render(
                    request,
                    "dashboard/settings/invitation_sent.html",
                    {"invitation": invitation, "link": link, "settings_section": self.section},
                )
        return self.render_to_response(self.get_context_data(invite_form=form))


class MembershipMixin(SettingsMixin):
    @cached_property
    def target(self) -> Membership:
        return self.get_scoped(
            Membership.objects.select_related("user", "workspace"), pk=self.kwargs["pk"]
        )


class MemberRoleView(MembershipMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        form = RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a role.")
            return redirect("dashboard:settings_members")
        try:
            members.membership_change_role(
                membership=self.target, role=form.cleaned_data["role"], actor=self.membership
            )
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(
                request, f"{self.target.user} is now {self.target.get_role_display()}."
            )
        return redirect("dashboard:settings_members")


class MemberRemoveView(MembershipMixin, TemplateView):
    template_name = "dashboard/confirm_delete.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            object=self.target.user,
            object_kind="member",
            warning=f"{self.target.user} loses access to {self.workspace.name} at once.",
            cancel_url=reverse("dashboard:settings_members"),
            **kwargs,
        )

    def post(self, request, pk):
        try:
            members.membership_remove(membership=self.target, actor=self.membership)
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"Removed {self.target.user} from the workspace.")
        return redirect("dashboard:settings_members")


class InvitationRevokeView(SettingsMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        invitation = self.get_scoped(Invitation, pk=pk)
        members.invitation_revoke(invitation=invitation)
        messages.success(request, f"Revoked the invitation of {invitation.email}.")
        return redirect("dashboard:settings_members")


class InvitationAcceptView(View):
    """The link in an invitation mail. Signed in as the invited address: one click joins.
    Not signed in and new: choose a password. Not signed in with an existing account: sign in
    first (and come back)."""

    template_name = "dashboard/settings/invitation_accept.html"

    def dispatch(self, request, *args, **kwargs):
        self.invitation = members.invitation_from_token(kwargs["token"])
        if self.invitation is None:
            return render(request, "dashboard/settings/invitation_invalid.html", status=404)
        return super().dispatch(request, *args, **kwargs)

    def _needs_sign_in(self, request) -> bool:
        from django.contrib.auth import get_user_model

        return not request.user.is_authenticated and (
            get_user_model().objects.filter(email__iexact=self.invitation.email).exists()
        )

    def get(self, request, token):
        if self._needs_sign_in(request):
            return redirect_to_login(request.get_full_path(), reverse("dashboard:login"))
        return self._render(request, AcceptInvitationForm())

    def _render(self, request, form, status=200):
        return render(
            request,
            self.template_name,
            {"invitation": self.invitation, "form": form},
            status=status,
        )

    def post(self, request, token):
        if self._needs_sign_in(request):
            return redirect_to_login(request.get_full_path(), reverse("dashboard:login"))
        form = AcceptInvitationForm(request.POST)
        signed_in = request.user.is_authenticated
        if not signed_in and not form.is_valid():
            return self._render(request, form, status=400)
        try:
            membership = members.invitation_accept(
                invitation=self.invitation,
                user=request.user if signed_in else None,
                password=None if signed_in else form.cleaned_data["password"],
                full_name="" if signed_in else form.cleaned_data["full_name"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
            return self._render(request, form, status=400)
        if not signed_in:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        from mailcrm.dashboard.middleware import SESSION_KEY

        request.session[SESSION_KEY] = str(membership.workspace_id)
        messages.success(request, f"Welcome to {membership.workspace.name}.")
        return redirect("dashboard:home")


class ApiKeysView(SettingsMixin, TemplateView):
    template_name = "dashboard/settings/api_keys.html"
    section = "api_keys"

    def get_context_data(self, form=None, **kwargs):
        keys = self.scoped(ApiKey).select_related("created_by").prefetch_related("sending_domains")
        page = keyset_page(keys, cursor=page_cursor(self.request), size=PAGE_SIZE)
        form = form or ApiKeyForm(workspace=self.workspace)
        return super().get_context_data(
            keys=page.rows, next_cursor=page.next_cursor, form=form, **kwargs
        )

    def post(self, request):
        form = ApiKeyForm(request.POST, workspace=self.workspace)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        key, secret = services.api_key_create(
            workspace=self.workspace,
            name=form.cleaned_data["name"],
            created_by=request.user,
            scope=form.cleaned_data["scope"],
            sending_domains=form.cleaned_data["sending_domains"],
        )
        return _show_secret(request, key, secret, created=True)


def _show_secret(request, key: ApiKey, secret: str, *, created: bool):
    return render(
        request,
        "dashboard/settings/api_key_secret.html",
        {"key": key, "secret": secret, "created": created, "settings_section": "api_keys"},
    )


class ApiKeyActionView(SettingsMixin, TemplateView):
    """GET asks for confirmation; POST rotates or revokes."""

    template_name = "dashboard/settings/api_key_confirm.html"
    action = ""

    @cached_property
    def key(self) -> ApiKey:
        return self.get_scoped(ApiKey.objects.active(), pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        return super().get_context_data(key=self.key, action=self.action, **kwargs)

    def post(self, request, pk):
        if self.action == "rotate":
            key, secret = services.api_key_rotate(key=self.key)
            return _show_secret(request, key, secret, created=False)
        services.api_key_revoke(key=self.key)
        messages.success(request, f"Revoked {self.key}. Requests with it now get 401.")
        return redirect("dashboard:settings_api_keys")


class BackendsView(SettingsMixin, TemplateView):
    template_name = "dashboard/settings/backends.html"
    section = "backends"

    def get_context_data(self, **kwargs):
        backends = self.scoped(SendingBackend).select_related("sending_domain")
        return super().get_context_data(backends=backends, **kwargs)


class BackendFormView(SettingsMixin, ServiceFormView):
    template_name = "dashboard/settings/backend_form.html"
    form_class = SendingBackendForm
    section = "backends"
    success_message = "Saved the sending backend {object}."

    @cached_property
    def backend(self) -> SendingBackend | None:
        if "pk" not in self.kwargs:
            return None
        return self.get_scoped(SendingBackend, pk=self.kwargs["pk"])

    def get_form_kwargs(self):
        instance = self.backend or SendingBackend(workspace=self.workspace)
        return {**super().get_form_kwargs(), "workspace": self.workspace, "instance": instance}

    def get_context_data(self, **kwargs):
        return super().get_context_data(backend=self.backend, **kwargs)

    def perform(self, form):
        backend = form.instance
        backend.workspace = self.workspace
        try:
            with transaction.atomic():
                return senders.sending_backend_save(
                    backend,
                    password=form.cleaned_data.get("new_password") or None,
                    esp_settings=form.cleaned_data.get("new_esp_settings"),
                )
        except IntegrityError:
            raise ValidationError(
                "Another backend already has this name, is the default, or carries this domain."
            ) from None

    def get_success_url(self):
        return reverse("dashboard:settings_backends")


class BackendDeleteView(SettingsMixin, ConfirmDeleteView):
    model = SendingBackend
    success_url_name = "dashboard:settings_backends"
    warning = "Mail it carried goes through the default backend (or the server's) from now on."

    def delete(self, obj) -> None:
        # A backend has no dependants and no consequences beyond routing: nothing to announce.
        audit.record(obj.workspace_id, "sending_backend.deleted", obj)
        obj.delete()
