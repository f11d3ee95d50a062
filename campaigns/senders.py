"""Which way a workspace's message leaves: the backend bound to the sender's domain, else the
workspace's default backend, else the server-wide EMAIL_BACKEND — with the domain's DKIM key
when the way out is plain SMTP. One ``Senders`` lives for one batch, so each backend keeps one
open connection across the batch."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError

from campaigns import pipeline
from campaigns.models import BackendKind, SendingBackend, SmtpSecurity
from campaigns.transport import (
    BackendTransport,
    DkimSigner,
    SmtpTransport,
    Transport,
    default_transport,
    from_domain,
)
from deliverability.dkim import dkim_private_key
from deliverability.models import SendingDomain
from mailcrm import audit, crypto
from mailcrm.models import Workspace

SERVER_DEFAULT = "server"


class Senders:
    """Transports of one workspace for one batch: ``for_address`` picks (and opens once) the
    transport for a From address; ``close`` ends them all."""

    def __init__(self, workspace: Workspace | int | str):
        self.workspace_id = getattr(workspace, "pk", workspace)
        self._domains: dict[str, SendingDomain | None] = {}
        self._signers: dict[str, DkimSigner | None] = {}
        self._transports: dict[str, Transport] = {}
        self._backends: list[SendingBackend] | None = None

    def backend_for(self, address: str) -> SendingBackend | None:
        """The workspace's backend carrying mail from ``address`` (None: the server's)."""
        if self._backends is None:
            self._backends = list(
                SendingBackend.objects.for_workspace(self.workspace_id).filter(is_active=True)
            )
        domain = self._domain(from_domain(address))
        if domain is not None:
            bound = next((b for b in self._backends if b.sending_domain_id == domain.pk), None)
            if bound is not None:
                return bound
        return next((b for b in self._backends if b.is_default), None)

    def sending_domain(self, address: str) -> SendingDomain | None:
        """The workspace's sending domain of a From address (None: not one of its own)."""
        return self._domain(from_domain(address))

    def for_address(self, address: str) -> Transport:
        backend = self.backend_for(address)
        key = str(backend.pk) if backend else SERVER_DEFAULT
        if key not in self._transports:
            self._transports[key] = (
                backend_transport(backend, self._signer)
                if backend
                else default_transport(self._signer)
            )
        return self._transports[key]

    def take_slot(self, address: str) -> bool:
        """Take one send from the budget of the backend carrying ``address`` this minute."""
        return self.take_slots(address, 1) == 1

    def take_slots(self, address: str, wanted: int) -> int:
        """Take up to ``wanted`` sends from the budget of the backend carrying ``address``
        this minute; returns how many were granted (all of them when it has no limit)."""
        backend = self.backend_for(address)
        if backend is not None:
            limit, key = backend.rate_per_minute, f"backend:{backend.pk}"
        else:
            limit, key = settings.EMAIL_RATE_PER_MINUTE, f"backend:{SERVER_DEFAULT}"
        return pipeline.take_slots(key, limit, wanted) if limit else wanted

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()

    def _domain(self, name: str) -> SendingDomain | None:
        if name not in self._domains:
            self._domains[name] = (
                SendingDomain.objects.for_workspace(self.workspace_id).filter(domain=name).first()
            )
        return self._domains[name]

    def _signer(self, name: str) -> DkimSigner | None:
        if name not in self._signers:
            domain = self._domain(name)
            self._signers[name] = (
                DkimSigner(
                    domain=domain.domain,
                    selector=domain.dkim_selector,
                    private_key=dkim_private_key(domain),
                )
                if domain is not None and domain.has_dkim_key
                else None
            )
        return self._signers[name]


def backend_transport(backend: SendingBackend, signer_for=None) -> Transport:
    if backend.kind == BackendKind.ESP:
        return BackendTransport(
            f"anymail.backends.{backend.esp}.EmailBackend", **decrypted_esp_settings(backend)
        )
    return SmtpTransport(
        host=backend.host,
        port=backend.port,
        username=backend.username,
        password=crypto.decrypt(backend.password),
        use_tls=backend.security == SmtpSecurity.STARTTLS,
        use_ssl=backend.security == SmtpSecurity.SSL,
        signer_for=signer_for,
    )


def decrypted_esp_settings(backend: SendingBackend) -> dict:
    return json.loads(crypto.decrypt(backend.esp_settings) or "{}")


def sending_backend_save(
    backend: SendingBackend, *, password: str | None = None, esp_settings: dict | None = None
) -> SendingBackend:
    """Validate and save ``backend``; a new password or ESP settings are encrypted first
    (None keeps what is stored)."""
    if password is not None:
        backend.password = crypto.encrypt(password)
    if esp_settings is not None:
        backend.esp_settings = crypto.encrypt(json.dumps(esp_settings)) if esp_settings else ""
    errors: dict[str, list[str]] = {}
    if backend.kind == BackendKind.SMTP and not backend.host:
        errors["host"] = ["An SMTP backend needs a host."]
    if backend.kind == BackendKind.ESP and not backend.esp:
        errors["esp"] = ["Choose the email service provider."]
    if backend.sending_domain_id and backend.sending_domain.workspace_id != backend.workspace_id:
        errors["sending_domain"] = ["No such sending domain in this workspace."]
    if errors:
        raise ValidationError(errors)
    verb = "created" if backend._state.adding else "updated"
    changes = audit.pending_changes(backend)
    backend.save()
    audit.record(backend.workspace_id, f"sending_backend.{verb}", backend, changes)
    return backend
