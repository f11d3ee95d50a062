"""Custom property values are coerced to one stored form per type, or refused with a reason."""

import pytest
from django.core.exceptions import ValidationError

from contacts.models import PropertyDefinition, PropertyType
from contacts.properties import PropertyError, coerce_value, validate_properties
from contacts.tests.factories import PropertyDefinitionFactory

pytestmark = pytest.mark.django_db


def _definition(kind, options=None):
    return PropertyDefinition(key="p", type=kind, options=options or [])


@pytest.mark.parametrize(
    "kind,value,stored",
    [
        (PropertyType.TEXT, "hello", "hello"),
        (PropertyType.TEXT, 42, "42"),
        (PropertyType.NUMBER, 3, 3),
        (PropertyType.NUMBER, "2,500", 2500),
        (PropertyType.NUMBER, "2.5", 2.5),
        (PropertyType.BOOLEAN, "yes", True),
        (PropertyType.BOOLEAN, False, False),
        (PropertyType.BOOLEAN, "0", False),
        (PropertyType.DATE, "2025-01-31", "2025-01-31"),
        (PropertyType.DATETIME, "2025-01-31T10:00:00+02:00", "2025-01-31T08:00:00Z"),
        (PropertyType.DATETIME, "2025-01-31", "2025-01-31T00:00:00Z"),
        (PropertyType.EMAIL, " a@b.co ", "a@b.co"),
        (PropertyType.PHONE, "+1 (555) 010-0100", "+1 (555) 010-0100"),
        (PropertyType.URL, "https://example.com/x", "https://example.com/x"),
        (PropertyType.CURRENCY, "19.999", 20.0),
        (PropertyType.CURRENCY, 1000, 1000),
        (PropertyType.JSON, {"a": [1, 2]}, {"a": [1, 2]}),
    ],
)
def test_values_are_stored_in_one_form_per_type(kind, value, stored):
    assert coerce_value(_definition(kind), value) == stored


@pytest.mark.parametrize(
    "kind,value",
    [
        (PropertyType.TEXT, {"a": 1}),
        (PropertyType.TEXT, True),
        (PropertyType.NUMBER, "abc"),
        (PropertyType.NUMBER, True),
        (PropertyType.NUMBER, "NaN"),
        (PropertyType.NUMBER, float("inf")),
        (PropertyType.BOOLEAN, "maybe"),
        (PropertyType.DATE, "31/01/2025"),
        (PropertyType.DATE, "2025-02-30"),
        (PropertyType.DATETIME, "soon"),
        (PropertyType.EMAIL, "not-an-email"),
        (PropertyType.PHONE, "call me"),
        (PropertyType.URL, "javascript:alert(1)"),
        (PropertyType.URL, "ftp://example.com"),
        (PropertyType.TEXT, "x" * 10_001),
    ],
)
def test_bad_values_are_refused(kind, value):
    with pytest.raises(PropertyError):
        coerce_value(_definition(kind), value)


def test_select_and_multi_select_keep_to_their_options():
    select = _definition(PropertyType.SELECT, ["free", "pro"])
    multi = _definition(PropertyType.MULTI_SELECT, ["a", "b", "c"])
    assert coerce_value(select, "pro") == "pro"
    assert coerce_value(multi, ["b", "a", "b"]) == ["b", "a"]
    assert coerce_value(multi, "a, c") == ["a", "c"]
    with pytest.raises(PropertyError, match="one of: free, pro"):
        coerce_value(select, "gold")
    with pytest.raises(PropertyError):
        coerce_value(multi, ["a", "z"])
    with pytest.raises(PropertyError):
        coerce_value(multi, 5)


def test_validate_names_every_bad_property(workspace):
    PropertyDefinitionFactory(workspace=workspace, key="age", type=PropertyType.NUMBER)
    with pytest.raises(ValidationError) as caught:
        validate_properties(workspace, {"age": "old", "height": 2})
    assert set(caught.value.message_dict) == {"properties.age", "properties.height"}


def test_definitions_of_another_workspace_do_not_count(workspace, outsider):
    PropertyDefinitionFactory(workspace=outsider.workspace, key="age", type=PropertyType.NUMBER)
    with pytest.raises(ValidationError):
        validate_properties(workspace, {"age": 3})


def test_empty_values_mean_remove(workspace):
    PropertyDefinitionFactory(workspace=workspace, key="age", type=PropertyType.NUMBER)
    assert validate_properties(workspace, {"age": None}) == {"age": None}
    assert validate_properties(workspace, {"age": ""}) == {"age": None}
