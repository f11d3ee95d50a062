from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from smtprelay import services
from smtprelay.api.serializers import SmtpRotatedSerializer, SmtpSettingsSerializer
from smtprelay.models import SmtpCredential


def _body(credential: SmtpCredential, **extra) -> dict:
    endpoint = services.relay_endpoint()
    return {
        "host": endpoint.host,
        "port": endpoint.port,
        "tls": endpoint.tls,
        "username": credential.username,
        "password_set": credential.has_password,
        "password_prefix": credential.prefix,
        "created_at": credential.created_at,
        "rotated_at": credential.rotated_at,
        "last_used_at": credential.last_used_at,
        **extra,
    }


class SmtpSettingsView(APIView):
    @extend_schema(
        responses=SmtpSettingsSerializer,
        summary="SMTP credentials (host, port, username); the password is set by rotating",
    )
    def get(self, request):
        credential = services.smtp_credential_get(workspace=request.user.workspace)
        return Response(SmtpSettingsSerializer(_body(credential)).data)


class SmtpRotateView(APIView):
    @extend_schema(
        request=None,
        responses=SmtpRotatedSerializer,
        summary="A new SMTP password, shown once; the old one stops working",
    )
    def post(self, request):
        credential, password = services.smtp_credential_rotate(workspace=request.user.workspace)
        return Response(SmtpRotatedSerializer(_body(credential, password=password)).data)
