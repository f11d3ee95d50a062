"""One error format for the whole API:
``{"error": {"code", "message", "fields"}}`` (API.md, "Conventions")."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mailcrm.exceptions import DomainError

_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub": ["reason", …]}."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and not prefix:
                name = "non_field_errors"
            fields.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            fields[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                fields.update(_flatten(item, f"{prefix}[{index}]" if prefix else f"[{index}]"))
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


def error_body(code: str, message: str, fields: dict | None = None, **extra: Any) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


def _validation_response(fields: dict[str, list[str]], **extra: Any) -> Response:
    first = next(iter(fields.items()), None)
    message = "Invalid input."
    if first:
        message = f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0]
    body = error_body("invalid", message, fields, **extra)
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _too_large() -> Response:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = (
        f"The request body is over the {limit / (1024 * 1024):.1f} MB limit; "
        "send fewer or smaller items per request."
    )
    body = error_body("too_large", message, limit_bytes=limit)
    return Response(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    # Django raises these while DRF reads the body; unhandled they became its HTML 400 page.
    if isinstance(exc, RequestDataTooBig):
        return _too_large()
    if isinstance(exc, TooManyFieldsSent):
        return Response(error_body("invalid", str(exc)), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DomainError):
        extra = {k: v for k, v in exc.extra.items() if v is not None}
        return Response(error_body(exc.code, exc.message, **extra), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = {key: [str(m) for m in msgs] for key, msgs in exc.message_dict.items()}
        else:
            fields = {"non_field_errors": [str(m) for m in exc.messages]}
        # Query errors carry where in the text they are.
        extra = {"position": exc.position} if hasattr(exc, "position") else {}
        return _validation_response(fields, **extra)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(_flatten(exc.detail))
    detail = getattr(exc, "detail", None)
    message = str(detail) if detail is not None else "Error."
    code = _CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.NotFound):
        message = "Not found."
    response.data = error_body(code, message)
    return response
