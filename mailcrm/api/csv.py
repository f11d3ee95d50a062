"""Pieces shared by the API's CSV endpoints (exports stream CSV, imports take uploads)."""

from __future__ import annotations

import json

from rest_framework.renderers import BaseRenderer


class CsvRenderer(BaseRenderer):
    """Lets `Accept: text/csv` through negotiation; errors are still written as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


def content_length(request) -> int:
    """The declared body size (0 when absent or garbled), to refuse an oversized upload
    before reading it."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
