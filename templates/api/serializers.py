from __future__ import annotations

from rest_framework import serializers

from templates.models import EmailTemplate


class EmailTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailTemplate
        fields = [
            "id",
            "name",
            "subject",
            "html",
            "text",
            "from_name",
            "from_email",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "html": {"trim_whitespace": False},
            "text": {"trim_whitespace": False},
        }


class PreviewRequestSerializer(serializers.Serializer):
    contact_id = serializers.UUIDField(required=False, help_text="Render as this contact gets it.")
    variables = serializers.DictField(
        required=False, help_text="Variables beside the standard ones, as in a transactional send."
    )


class RenderedSerializer(serializers.Serializer):
    subject = serializers.CharField(allow_blank=True)
    html = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
