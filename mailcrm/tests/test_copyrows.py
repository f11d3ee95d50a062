"""insert_rows writes what bulk_create would have written, on either database: JSON as the
field encodes it, nulls for the columns left out, the given keys and timestamps."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contacts.models import Activity
from contacts.tests.factories import ContactFactory
from mailcrm.copyrows import insert_rows
from mailcrm.ids import uuid7

pytestmark = pytest.mark.django_db


def test_rows_come_back_as_given(workspace):
    contact = ContactFactory(workspace=workspace)
    at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    data = {"event": "sent", "score": 3, "name": "Zoë ✓", "nested": {"a": [1, None, True]}}
    ids = [uuid7(), uuid7()]
    fields = ("id", "workspace_id", "contact_id", "kind", "subject", "body", "data")
    rows = [(pk, workspace.pk, contact.pk, "email_sent", "", "", data, at, at) for pk in ids]
    assert insert_rows(Activity, (*fields, "occurred_at", "created_at"), rows) == 2
    assert insert_rows(Activity, fields, []) == 0
    stored = Activity.objects.filter(pk__in=ids)
    assert sorted(a.pk for a in stored) == sorted(ids)
    for activity in stored:
        assert activity.data == data and activity.occurred_at == at
        assert (activity.contact_id, activity.workspace_id) == (contact.pk, workspace.pk)
        assert activity.created_by_id is None and activity.subject == ""


def test_json_is_encoded_with_the_fields_encoder(workspace):
    contact = ContactFactory(workspace=workspace)
    at = datetime(2024, 5, 6, tzinfo=UTC)
    field = Activity._meta.get_field("data")
    value = {"amount": Decimal("1.50")} if field.encoder else {"amount": "1.50"}
    fields = ("id", "workspace_id", "contact_id", "kind", "subject", "body", "data")
    pk = uuid7()
    row = (pk, workspace.pk, contact.pk, "email_sent", "", "", value, at, at)
    insert_rows(Activity, (*fields, "occurred_at", "created_at"), [row])
    assert Activity.objects.get(pk=pk).data == {"amount": "1.50"}
