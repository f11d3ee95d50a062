"""Transactional email: one API call, one Message, sent by the next free worker — ahead of
campaign traffic, whose chains keep the queue short. Idempotency keys make a retried request
harmless."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.limits import check_monthly_sends
from campaigns.models import IdempotencyRecord, Message, MessageKind
from contacts.services import find_contact_by_email
from mailcrm.exceptions import Conflict, DomainError
from mailcrm.models import Workspace

IDEMPOTENCY_TTL = timedelta(hours=24)


class IdempotencyMismatch(DomainError):
    status_code = 422
    code = "idempotency_key_reused"


def _template_content(workspace: Workspace, template_id) -> dict[str, str]:
    from templates.models import EmailTemplate

    template = EmailTemplate.objects.filter(workspace=workspace, pk=template_id).first()
    if template is None:
        raise ValidationError({"template_id": ["No such template in this workspace."]})
    return {
        "subject": template.subject,
        "html": template.html,
        "text": template.text,
        "from_name": template.from_name,
    }


@transaction.atomic
def email_queue(*, workspace: Workspace, data: dict[str, Any]) -> Message:
    """Store one transactional email and hand it to a worker after commit."""
    from django_q.tasks import async_task

    from templates.rendering import compile_template

    payload = {key: value for key, value in data.items() if key != "template_id"}
    if data.get("template_id"):
        content = _template_content(workspace, data["template_id"])
        for key, value in content.items():
            payload.setdefault(key, value)
            payload[key] = payload[key] or value
    compile_template(payload.get("subject", ""), payload.get("html", ""), payload.get("text", ""))
    check_monthly_sends(workspace, 1)
    recipient = payload["to"][0]
    contact = find_contact_by_email(workspace, recipient)
    message = Message.objects.create(
        workspace=workspace,
        kind=MessageKind.TRANSACTIONAL,
        email=recipient,
        contact=contact,
        payload=payload,
        tag=payload.get("tag", ""),
        metadata=payload.get("metadata") or {},
    )
    transaction.on_commit(
        lambda: async_task(
            "campaigns.tasks.send_transactional", str(message.pk), group="transactional"
        )
    )
    return message


def _request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def idempotent(
    *, workspace: Workspace, key: str | None, body: Any, action: Callable[[], tuple[int, Any]]
) -> tuple[int, Any]:
    """Run ``action`` once per key: a repeat with the same body gets the first response; the
    same key with another body is refused (422); a repeat while the first is in flight, 409."""
    if not key:
        return action()
    if len(key) > 255:
        raise ValidationError({"Idempotency-Key": ["At most 255 characters."]})
    digest = _request_hash(body)
    IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_TTL).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                workspace=workspace, key=key, request_hash=digest
            )
    except IntegrityError:
        record = IdempotencyRecord.objects.get(workspace=workspace, key=key)
        if record.request_hash != digest:
            raise IdempotencyMismatch(
                "This Idempotency-Key was used with a different request body."
            ) from None
        if record.status_code is None:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed."
            ) from None
        return record.status_code, record.response
    try:
        status_code, response = action()
    except Exception:
        record.delete()
        raise
    record.status_code, record.response = status_code, response
    record.save(update_fields=["status_code", "response"])
    return status_code, response
