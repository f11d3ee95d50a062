"""Factories for deliverability rows, and for the campaign messages and events the health
score reads (campaigns has no factories of its own yet)."""

from __future__ import annotations

import factory
from django.utils import timezone

from campaigns.models import EventType, Message, MessageEvent, MessageKind, MessageStatus
from deliverability.models import (
    Bounce,
    BounceKind,
    HealthSnapshot,
    SendingDomain,
    Suppression,
    SuppressionType,
    SuppressionWhitelist,
    Unsubscribe,
)
from mailcrm.tests.factories import WorkspaceFactory


class SendingDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SendingDomain

    workspace = factory.SubFactory(WorkspaceFactory)
    domain = factory.Sequence(lambda n: f"mail{n}.example.com")


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    workspace = factory.SubFactory(WorkspaceFactory)
    email = factory.Sequence(lambda n: f"suppressed{n}@example.com")
    type = SuppressionType.MANUAL


class WhitelistFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SuppressionWhitelist

    workspace = factory.SubFactory(WorkspaceFactory)
    email = factory.Sequence(lambda n: f"allowed{n}@example.com")


class UnsubscribeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unsubscribe

    workspace = factory.SubFactory(WorkspaceFactory)
    email = factory.Sequence(lambda n: f"gone{n}@example.com")
    source = "link"


class BounceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bounce

    workspace = factory.SubFactory(WorkspaceFactory)
    email = factory.Sequence(lambda n: f"bounced{n}@example.com")
    kind = BounceKind.SOFT
    occurred_at = factory.LazyFunction(timezone.now)


class HealthSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HealthSnapshot

    workspace = factory.SubFactory(WorkspaceFactory)
    day = factory.LazyFunction(lambda: timezone.now().date())
    score = 80
    grade = "B"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    workspace = factory.SubFactory(WorkspaceFactory)
    kind = MessageKind.CAMPAIGN
    email = factory.Sequence(lambda n: f"recipient{n}@example.com")
    status = MessageStatus.SENT


class MessageEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageEvent

    message = factory.SubFactory(MessageFactory)
    workspace = factory.SelfAttribute("message.workspace")
    type = EventType.SENT
    occurred_at = factory.LazyFunction(timezone.now)
