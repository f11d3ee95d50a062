"""Content negotiation: an unknown ``?format=`` is a 400 naming the formats the endpoint has.

DRF's URL format override answers an unknown format with a bare 404, which the schema does not
document (the exports list ``csv`` and ``json``) and which reads as "no such endpoint" (found by
the API fuzzing's negative checks: ``GET /suppressions/export?format=x``). ``?format=csv`` and
``?format=json`` work as before."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation


class FormatNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        format_ = request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if not format_suffix and format_:
            known = [renderer.format for renderer in renderers]
            if format_ not in known:
                # Authenticated first (DRF negotiates before it authenticates): without a
                # valid key the answer stays the 401, whatever the query says.
                if request.auth is None:
                    return super().select_renderer(request, renderers, known[0])
                raise ValidationError(
                    {"format": [f"Unknown format {format_!r}: use {' or '.join(known)}."]}
                )
        return super().select_renderer(request, renderers, format_suffix)
