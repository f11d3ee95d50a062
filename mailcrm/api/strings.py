"""Text fields of the API take text only, and no more of it than the schema says.

DRF's ``CharField`` (and the fields built on it: email, URL, slug …) is lenient in two ways
the OpenAPI schema does not describe: it turns a JSON number into its text (``"html": 5`` is
stored as ``"5"``), and it checks ``max_length`` after trimming surrounding whitespace, so a
value longer than ``maxLength`` passes when the excess is spaces. Both were found by the API
fuzzing as invalid requests accepted. ``make_strict()`` (called once, from the app config)
makes every such field refuse a non-string with its "Not a valid string." error and measure the
value as sent."""

from __future__ import annotations

from rest_framework import serializers

_lenient = serializers.CharField.to_internal_value


def _to_internal_value(self, data):
    if not isinstance(data, str):
        self.fail("invalid")
    if self.max_length is not None and len(data) > self.max_length:
        self.fail("max_length", max_length=self.max_length)
    return _lenient(self, data)


def make_strict() -> None:
    serializers.CharField.to_internal_value = _to_internal_value
