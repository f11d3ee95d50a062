"""The development email backend: mail is kept in the database and shown in the dashboard's
outbox instead of being sent anywhere (the default when EMAIL_BACKEND is not set)."""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend


class CaptureBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        from campaigns.models import CapturedEmail

        CapturedEmail.objects.bulk_create(
            [
                CapturedEmail(
                    from_email=message.from_email,
                    to=message.recipients(),
                    subject=message.subject,
                    message=message.message().as_string(),
                )
                for message in email_messages
            ]
        )
        return len(email_messages)
