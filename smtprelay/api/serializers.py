from rest_framework import serializers


class SmtpSettingsSerializer(serializers.Serializer):
    host = serializers.CharField()
    port = serializers.IntegerField()
    username = serializers.CharField()
    tls = serializers.ChoiceField(
        choices=["starttls", "implicit", "none"],
        help_text="starttls: connect in plain text, then STARTTLS; implicit: TLS from the "
        "first byte (port 465 style); none: development only.",
    )
    password_set = serializers.BooleanField(help_text="False until the first rotation.")
    password_prefix = serializers.CharField(help_text="The first characters of the password.")
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class SmtpRotatedSerializer(SmtpSettingsSerializer):
    password = serializers.CharField(help_text="The new password. Shown this once.")
