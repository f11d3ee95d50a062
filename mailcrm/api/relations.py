"""Id fields of the API take an id, or null where the schema says ``nullable``.

DRF's ``RelatedField`` reads ``""`` as null, a rule for HTML forms that it applies to JSON too:
``{"domain_id": ""}`` was taken as "every domain", invalid by the schema (a UUID or null) and
found by the API fuzzing as an invalid request accepted. A form's empty value is still null
(``Field.get_value`` makes it so before validation, where the field takes null), as the schema
documents for form bodies (``mailcrm.api.schema.form_empty_values``). ``make_strict()`` is
called once, from the app config."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.fields import empty
from rest_framework.relations import RelatedField


def _run_validation(self, data=empty):
    if data == "":
        message = "Give an id" + (", or null." if self.allow_null else ".")
        raise ValidationError(message, code="incorrect_type")
    return super(RelatedField, self).run_validation(data)


def make_strict() -> None:
    RelatedField.run_validation = _run_validation
