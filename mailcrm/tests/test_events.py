"""The event outbox is written in the transaction of the change it announces."""

import pytest
from django.db import transaction

from mailcrm import events
from mailcrm.models import Event
from mailcrm.tests.factories import WorkspaceFactory


@pytest.mark.django_db(transaction=True)
def test_emit_refuses_to_run_outside_a_transaction():
    workspace = WorkspaceFactory()
    with pytest.raises(RuntimeError):
        events.emit(workspace, events.CONTACT_CREATED)
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_event_rolls_back_with_its_change():
    workspace = WorkspaceFactory()
    with pytest.raises(ValueError), transaction.atomic():
        events.emit(workspace, events.CONTACT_CREATED, data={"email": "a@example.org"})
        raise ValueError
    assert not Event.objects.exists()
    with transaction.atomic():
        event = events.emit(workspace, events.CONTACT_CREATED, data={"email": "a@example.org"})
    assert Event.objects.get() == event


@pytest.mark.django_db
def test_event_data_is_stored_as_plain_json(workspace):
    import datetime
    import decimal
    import uuid

    subject = uuid.uuid4()
    with transaction.atomic():
        event = events.emit(
            workspace,
            events.CONTACT_UPDATED,
            subject_id=subject,
            data={
                "at": datetime.datetime(2025, 1, 2, tzinfo=datetime.UTC),
                "n": decimal.Decimal("1.5"),
                "id": subject,
            },
        )
    event.refresh_from_db()
    assert event.data == {"at": "2025-01-02T00:00:00Z", "n": "1.5", "id": str(subject)}
