"""The rows a chunk's outcomes write (pipeline.record_outcomes) are the same whichever way they
are inserted (COPY on PostgreSQL, bulk_create elsewhere), and the per-message Message-IDs of
``mark_sending_many`` land on the right rows."""

import pytest

from campaigns import pipeline
from campaigns.models import Campaign, EventType, Message, MessageEvent, MessageStatus
from campaigns.transport import PermanentFailure, TemporaryFailure
from mailcrm.models import Event

pytestmark = pytest.mark.django_db


def _messages(workspace, count):
    campaign = Campaign.objects.create(workspace=workspace, name="C", status="sending")
    return [
        Message.objects.create(
            workspace=workspace, campaign=campaign, kind="campaign", email=f"p{n}@example.com"
        )
        for n in range(count)
    ]


def test_each_outcome_is_one_event_row_with_its_data(workspace):
    sent, deferred, bounced = _messages(workspace, 3)
    won = pipeline.mark_sending_many({m.id: f"<{m.id.hex}@example.com>" for m in (sent, deferred)})
    assert won == {sent.id, deferred.id}
    sent.message_id = f"<{sent.id.hex}@example.com>"
    pipeline.record_outcomes(
        workspace=workspace,
        sent=[(sent, "")],
        failed=[
            (deferred, TemporaryFailure("Greylisted, ünïcode", 451)),
            (bounced, PermanentFailure("No such user", 550)),
        ],
        engagement=False,
    )
    rows = {e.message_id: e for e in MessageEvent.objects.filter(workspace=workspace)}
    assert {m: rows[m].type for m in rows} == {
        sent.id: EventType.SENT,
        deferred.id: MessageStatus.DEFERRED,
        bounced.id: MessageStatus.BOUNCED,
    }
    assert rows[sent.id].data == {}
    assert rows[deferred.id].data["reason"] == "Greylisted, ünïcode"
    assert rows[deferred.id].data["code"] == 451 and "retry_at" in rows[deferred.id].data
    assert rows[bounced.id].data == {"code": 550, "reason": "No such user", "hard": True}
    for event in rows.values():
        assert event.workspace_id == workspace.pk
        assert (event.url, event.is_machine, event.device_type, event.client, event.os) == (
            "",
            False,
            "",
            "",
            "",
        )
        assert event.esp_event_id is None and event.occurred_at and event.created_at
    sent.refresh_from_db()
    assert sent.status == MessageStatus.SENT
    assert sent.provider_message_id == sent.message_id == f"<{sent.id.hex}@example.com>"
    deferred.refresh_from_db()
    assert deferred.message_id == f"<{deferred.id.hex}@example.com>"
    announced = Event.objects.filter(workspace=workspace, type="email.sent")
    assert [e.subject_id for e in announced] == [sent.id]
