"""API key authentication: `X-API-Key: <key>` or `Authorization: Bearer <key>`."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from mailcrm.services import api_key_authenticate


class ApiKeyUser:
    """Stands in for a user on API requests: the key acts for its workspace."""

    is_authenticated = True
    is_anonymous = False
    pk = None

    def __init__(self, key):
        self.key = key
        self.workspace = key.workspace

    def __str__(self) -> str:
        return f"API key {self.key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        secret = request.META.get("HTTP_X_API_KEY", "").strip()
        if not secret:
            header = request.META.get("HTTP_AUTHORIZATION", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer":
                return None
            secret = value.strip()
        if not secret:
            return None
        key = api_key_authenticate(secret)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiKeyUser(key), key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when no key is given.
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "mailcrm.api.authentication.ApiKeyAuthentication"
    name = ["ApiKeyAuth", "BearerAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "http", "scheme": "bearer"},
        ]
