"""The health score: known event histories give known metrics, score, grade and insights;
daily snapshots are idempotent and make the trend."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import EventType, Message, MessageEvent, MessageKind
from contacts.tests.factories import ContactFactory
from deliverability import health
from deliverability.models import HealthSnapshot
from deliverability.tests.factories import HealthSnapshotFactory, SendingDomainFactory

pytestmark = pytest.mark.django_db

VALID = {"status": "valid", "found": "", "explanation": ""}
INVALID = {"status": "invalid", "found": "", "explanation": ""}


def history(
    workspace,
    *,
    sent: int,
    bounced: int = 0,
    complained: int = 0,
    unsubscribed: int = 0,
    opened: int = 0,
    machine_opened: int = 0,
    clicked: int = 0,
    machine_clicked: int = 0,
    days_ago: float = 1,
    kind: str = MessageKind.CAMPAIGN,
) -> None:
    """``sent`` messages, the first ``bounced`` of them bounced (SMTP 5xx: no "sent" event),
    the next ones complained, unsubscribed, opened and clicked — each opened twice, to show
    opens are counted once per message."""
    at = timezone.now() - timedelta(days=days_ago)
    messages = Message.objects.bulk_create(
        Message(workspace=workspace, kind=kind, email=f"r{n}@example.com") for n in range(sent)
    )
    events = []

    def add(message, kind, **extra):
        events.append(
            MessageEvent(workspace=workspace, message=message, type=kind, occurred_at=at, **extra)
        )

    for message in messages[:bounced]:
        add(message, EventType.BOUNCED)
    delivered = messages[bounced:]
    for message in delivered:
        add(message, EventType.SENT)
    for message in delivered[:complained]:
        add(message, EventType.COMPLAINED)
    for message in delivered[:unsubscribed]:
        add(message, EventType.UNSUBSCRIBED)
    for message in delivered[:opened]:
        add(message, EventType.OPENED)
        add(message, EventType.OPENED)
    for message in delivered[opened : opened + machine_opened]:
        add(message, EventType.OPENED, is_machine=True)
    for message in delivered[:clicked]:
        add(message, EventType.CLICKED)
    for message in delivered[clicked : clicked + machine_clicked]:
        add(message, EventType.CLICKED, is_machine=True)
    MessageEvent.objects.bulk_create(events)


def authenticated_domain(workspace, **checks):
    dns = {"spf": VALID, "dkim": VALID, "dmarc": VALID, **checks}
    return SendingDomainFactory(
        workspace=workspace, is_verified=all(c is VALID for c in dns.values()), dns_checks=dns
    )


def contacts(workspace, *, engaged: int, unengaged: int, new: int = 0):
    now = timezone.now()
    old = now - timedelta(days=400)
    for _ in range(engaged):
        contact = ContactFactory(workspace=workspace, last_opened_at=now - timedelta(days=10))
        contact.__class__.objects.filter(pk=contact.pk).update(created_at=old)
    for _ in range(unengaged):
        contact = ContactFactory(workspace=workspace, last_opened_at=now - timedelta(days=200))
        contact.__class__.objects.filter(pk=contact.pk).update(created_at=old)
    ContactFactory.create_batch(new, workspace=workspace)


def by_metric(result):
    return {insight["metric"]: insight for insight in result["insights"]}


def test_a_healthy_workspace_scores_a_plus_with_nothing_to_fix(workspace):
    history(
        workspace,
        sent=500,
        bounced=5,
        unsubscribed=1,
        opened=99,
        machine_opened=150,
        clicked=15,
    )
    authenticated_domain(workspace)
    contacts(workspace, engaged=9, unengaged=1)
    result = health.health_score(workspace)
    metrics = result["metrics"]
    assert metrics["volume"] == {
        "sent": 500,
        "bounced": 5,
        "delivered": 495,
        "complained": 0,
        "unsubscribed": 1,
        "opened": 99,
        "clicked": 15,
    }
    assert metrics["bounce_rate"]["value"] == 0.01
    assert metrics["open_rate"]["value"] == 0.2, "machine opens are not counted"
    assert metrics["click_rate"]["value"] == round(15 / 495, 5)
    assert metrics["domain_authentication"]["value"] == 1.0
    assert metrics["list_hygiene"]["value"] == 0.1
    assert all(metrics[name]["status"] == "good" for name in health.RULES)
    assert (result["score"], result["grade"], result["insights"]) == (100, "A+", [])


def test_a_known_history_gives_its_score_grade_and_insights(workspace):
    # 3% bounces: 25 × (10 − 3) / 8 = 21.88 points; no complaints or unsubscribes: 25 + 10;
    # nobody opened or clicked: 0 + 0; no sending domain: 0 of 15; no contacts: left out.
    history(workspace, sent=100, bounced=3)
    result = health.health_score(workspace)
    metrics = result["metrics"]
    assert metrics["bounce_rate"] | {"points": round(metrics["bounce_rate"]["points"], 2)} == {
        "value": 0.03,
        "status": "warning",
        "points": 21.88,
        "max_points": 25,
        "count": 3,
        "of": 100,
        "of_what": "sent",
    }
    assert metrics["list_hygiene"]["status"] == "no_data"
    assert result["score"] == round(100 * (21.88 + 25 + 10) / 90) == 63
    assert result["grade"] == "D"
    insights = by_metric(result)
    assert list(insights) == [
        "domain_authentication",
        "open_rate",
        "click_rate",
        "bounce_rate",
    ], "critical first, heavier metrics first"
    assert "Bounce rate is 3% (3 of 100 sent)" in insights["bounce_rate"]["message"]
    assert "Human open rate is 0% (0 of 97 delivered" in insights["open_rate"]["message"]
    assert "No sending domain" in insights["domain_authentication"]["message"]


def test_complaints_at_or_above_three_per_thousand_cap_the_score(workspace):
    history(workspace, sent=1000, complained=4, opened=300, clicked=50)
    authenticated_domain(workspace)
    result = health.health_score(workspace)
    complaint = result["metrics"]["complaint_rate"]
    assert (complaint["value"], complaint["status"], complaint["points"]) == (0.004, "critical", 0)
    assert result["score"] == health.COMPLAINT_CAP
    assert result["grade"] == "F"
    first = result["insights"][0]
    assert first["metric"] == "complaint_rate" and first["severity"] == "critical"
    assert "Complaint rate is 0.4% (4 of 1,000 delivered)" in first["message"]
    assert "0.3%" in first["message"]


def test_a_complaint_rate_between_the_aim_and_the_limit_is_a_warning(workspace):
    history(workspace, sent=1000, complained=2, opened=300, clicked=50)
    authenticated_domain(workspace)
    result = health.health_score(workspace)
    complaint = result["metrics"]["complaint_rate"]
    assert complaint["status"] == "warning" and complaint["points"] == 12.5
    # 12.5 of 25 points lost, out of 90 (no contacts: hygiene is left out).
    assert result["score"] == round(100 * (90 - 12.5) / 90) == 86
    assert result["grade"] == "B"
    assert "aim under 0.1%" in by_metric(result)["complaint_rate"]["message"]


def test_bounces_of_ten_percent_cap_the_score(workspace):
    history(workspace, sent=100, bounced=10, opened=50, clicked=10)
    authenticated_domain(workspace)
    result = health.health_score(workspace)
    assert result["metrics"]["bounce_rate"]["status"] == "critical"
    assert result["score"] == health.BOUNCE_CAP


def test_old_events_test_sends_machine_clicks_and_other_workspaces_are_not_counted(
    workspace, outsider
):
    history(workspace, sent=10, bounced=5, days_ago=31)
    history(workspace, sent=10, bounced=5, kind=MessageKind.TEST)
    history(workspace, sent=10, machine_clicked=10)
    history(outsider.workspace, sent=10, bounced=5)
    volume = health.health_score(workspace)["metrics"]["volume"]
    assert volume == {
        "sent": 10,
        "bounced": 0,
        "delivered": 10,
        "complained": 0,
        "unsubscribed": 0,
        "opened": 0,
        "clicked": 0,
    }


def test_a_bounce_reported_after_the_send_counts_the_message_once(workspace):
    history(workspace, sent=10)
    message = Message.objects.filter(workspace=workspace).first()
    MessageEvent.objects.create(
        workspace=workspace, message=message, type=EventType.BOUNCED, occurred_at=timezone.now()
    )
    volume = health.sending_volume(workspace, since=timezone.now() - timedelta(days=30))
    assert (volume["sent"], volume["bounced"], volume["delivered"]) == (10, 1, 9)


def test_domain_authentication_counts_each_record(workspace):
    authenticated_domain(workspace)
    authenticated_domain(workspace, dkim=INVALID, dmarc={"status": "pending"})
    auth = health.health_score(workspace)["metrics"]["domain_authentication"]
    assert {k: auth[k] for k in ("domains", "verified", "spf", "dkim", "dmarc")} == {
        "domains": 2,
        "verified": 1,
        "spf": 2,
        "dkim": 1,
        "dmarc": 1,
    }
    assert auth["value"] == 0.625
    assert auth["status"] == "warning"
    message = by_metric(health.health_score(workspace))["domain_authentication"]["message"]
    assert "1 of 2 sending domains verified" in message
    assert "DKIM on 1 of 2, DMARC on 1 of 2" in message
    assert "SPF" not in message


def test_list_hygiene_counts_old_unengaged_active_contacts(workspace):
    contacts(workspace, engaged=3, unengaged=5, new=2)
    ContactFactory(workspace=workspace, status="unsubscribed")
    archived = ContactFactory(workspace=workspace, archived_at=timezone.now())
    assert archived.archived_at
    hygiene = health.health_score(workspace)["metrics"]["list_hygiene"]
    assert (hygiene["active"], hygiene["unengaged"], hygiene["value"]) == (10, 5, 0.5)
    assert hygiene["status"] == "critical"
    assert hygiene["points"] == 4.0
    message = by_metric(health.health_score(workspace))["list_hygiene"]["message"]
    assert message.startswith("50% of active contacts (5 of 10) have not opened or clicked")


def test_nothing_sent_says_so_and_scores_what_it_can(workspace):
    authenticated_domain(workspace)
    result = health.health_score(workspace)
    assert result["metrics"]["bounce_rate"]["status"] == "no_data"
    assert result["score"] == 100
    assert [i["metric"] for i in result["insights"]] == ["volume"]


def test_the_score_takes_three_queries(workspace, django_assert_num_queries):
    history(workspace, sent=50, bounced=2, opened=10)
    contacts(workspace, engaged=2, unengaged=2)
    with django_assert_num_queries(3):
        health.health_score(workspace)


@pytest.mark.parametrize(
    "score,grade", [(100, "A+"), (95, "A+"), (94, "A"), (90, "A"), (80, "B"), (60, "D"), (0, "F")]
)
def test_grades(score, grade):
    assert health.grade_for(score) == grade


def test_a_snapshot_a_day_is_idempotent(workspace, outsider):
    history(workspace, sent=100, bounced=3)
    assert health.snapshot_all() == 2
    first = HealthSnapshot.objects.get(workspace=workspace)
    assert (first.day, first.score, first.grade) == (timezone.now().date(), 63, "D")
    assert first.metrics["bounce_rate"]["value"] == 0.03
    history(workspace, sent=100)
    assert health.snapshot_all() == 2
    assert HealthSnapshot.objects.count() == 2
    again = HealthSnapshot.objects.get(workspace=workspace)
    assert again.pk == first.pk and again.metrics["bounce_rate"]["value"] == 0.015


def test_one_workspace_failing_does_not_stop_the_others(workspace, outsider, monkeypatch):
    real = health.health_score

    def flaky(ws, **kwargs):
        if ws == workspace:
            raise RuntimeError("boom")
        return real(ws, **kwargs)

    monkeypatch.setattr(health, "health_score", flaky)
    assert health.snapshot_all() == 1
    assert list(HealthSnapshot.objects.values_list("workspace", flat=True)) == [
        outsider.workspace.pk
    ]


def test_the_trend_is_the_recent_snapshots_oldest_first(workspace, outsider):
    today = timezone.now().date()
    for days, score in ((100, 10), (20, 70), (10, 80), (0, 90)):
        HealthSnapshotFactory(workspace=workspace, day=today - timedelta(days=days), score=score)
    HealthSnapshotFactory(workspace=outsider.workspace, day=today, score=1)
    assert [s.score for s in health.health_trend(workspace)] == [70, 80, 90]


def test_the_api_answers_the_score_of_the_keys_workspace(api, anon_api, workspace, outsider):
    history(workspace, sent=100, bounced=3)
    history(outsider.workspace, sent=100, complained=50)
    assert anon_api.get("/api/v1/health-score").status_code == 401
    response = api.get("/api/v1/health-score")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"score", "grade", "metrics", "insights"}
    assert (body["score"], body["grade"]) == (63, "D")
    assert body["metrics"]["volume"]["sent"] == 100
    assert body["metrics"]["complaint_rate"]["value"] == 0
    assert body["insights"][0] == {
        "metric": "domain_authentication",
        "severity": "critical",
        "message": body["insights"][0]["message"],
    }
    assert outsider.api.get("/api/v1/health-score").json()["grade"] == "F"


def test_the_schema_describes_the_health_score(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/health-score"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body["required"]) == {"score", "grade", "metrics", "insights"}
    assert "401" in operation["responses"]
