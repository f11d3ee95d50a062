"""Sending a batch of a campaign, and one transactional email."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import breakers, pipeline, windows
from campaigns.ab import VariantContents
from campaigns.content import (
    LinkBook,
    build_email,
    campaign_sender,
    message_urls,
    track,
)
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.senders import Senders
from campaigns.throttling import DeliveryGate
from campaigns.transport import (
    ConnectionLost,
    DeliveryError,
    Outgoing,
    PermanentFailure,
    ServerUnavailable,
    new_message_id,
)
from contacts.models import Contact
from deliverability.alignment import envelope_host
from deliverability.services import blocked_addresses
from smtprelay.verp import return_path

logger = logging.getLogger("mailcrm.sending")


def _compile(subject: str, html: str, text: str):
    from templates.rendering import compile_template

    return compile_template(subject, html, text)


def _context(contact: Contact | None, campaign: Campaign | None, message: Message, variables=None):
    from templates.rendering import build_context

    context = build_context(
        contact=contact, workspace=message.workspace, campaign=campaign, urls=message_urls(message)
    )
    if variables:
        context = {**variables, **context} if contact else {**context, **variables}
    return context


HandOn = Callable[[str], None]


def send_batch(campaign_id, *, hand_on: HandOn | None = None, now: datetime | None = None) -> int:
    """Send up to one batch of a sending campaign; returns how many messages were settled
    (sent, failed, suppressed …). Safe to run twice or concurrently: messages are claimed,
    then won chunk by chunk.

    ``hand_on(campaign_id)`` queues the chain's next batch. It is called once: as soon as this
    batch has settled something while unclaimed messages wait (so the next batch is queued
    while this one still sends, and a worker never idles waiting for the broker), or at the
    end — and again at the end when a pause stopped the batch, if the campaign was resumed.
    A batch that settles nothing (throttled, paused) hands on nothing: the chain rests until
    the minute's housekeeping starts it again.

    ``now`` is the clock of throttling and warm-up decisions (tests move it)."""
    campaign = Campaign.objects.select_related("workspace").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return 0
    ids = pipeline.claim(campaign.pk)
    if not ids:
        pipeline.finish_if_done(campaign.pk)
        return 0
    run = _BatchRun(campaign, hand_on, now)
    try:
        run.send(run.prepare(ids))
    finally:
        run.close()
        pipeline.release(ids)
    # A batch stopped by a pause hands on again once its claims are released: a resume that
    # came while it still held them started chains that found nothing to claim and ended.
    if (not run.handed or run.interrupted) and _still_sending(campaign):
        run.maybe_hand_on(again=run.interrupted)
    pipeline.finish_if_done(campaign.pk)
    return run.settled


class _BatchRun:
    """One batch of one campaign: its recipients, compiled content and open connection."""

    def __init__(self, campaign: Campaign, hand_on: HandOn | None, now: datetime | None = None):
        self.campaign = campaign
        self.hand_on = hand_on
        self.handed = False
        self.settled = 0
        # Failures in a row, counted apart for rendering (here) and delivery (in the delivery
        # thread); ERROR_BURST of either pauses the campaign.
        self.render_errors = 0
        self.delivery_errors = 0
        self.stopped = False
        # Stopped between chunks because the campaign left ``sending`` (paused, cancelled).
        self.interrupted = False
        # The server could not be reached: nothing more is tried, nothing handed on; the
        # chain rests until the minute's housekeeping starts it again.
        self.resting = False
        self.senders = Senders(campaign.workspace)
        self.now = now or timezone.now()
        self.gate: DeliveryGate | None = None  # throttled domains, warm-up (when sendable)

    def prepare(self, ids: list) -> list[tuple[Message, Contact]]:
        """Load the claimed messages; settle at once those whose contact may not be mailed
        any more (archived or inactive since the snapshot). Suppressions and unsubscribes
        are checked chunk by chunk just before each hand-off (``_still_mailable``), which
        also covers the first chunk: checking the batch here too asked the same three
        queries twice in a row."""
        campaign = self.campaign
        messages = list(Message.objects.filter(id__in=ids).order_by("id"))
        for message in messages:
            # The campaign's workspace, shared: not one Workspace instance loaded per message.
            message.workspace = campaign.workspace
        contacts = Contact.objects.in_bulk([m.contact_id for m in messages if m.contact_id])
        sendable, suppressed = [], []
        for message in messages:
            contact = contacts.get(message.contact_id)
            if _mailable(contact):
                sendable.append((message, contact))
            else:
                suppressed.append(message.id)
        pipeline.record_suppressed(suppressed)
        self.settled += len(suppressed)
        in_window = windows.hold_outside(campaign, sendable, self.now)
        self.settled += len(sendable) - len(in_window)
        sendable = in_window
        if sendable:
            # Per message: its A/B variant's content, the winner's, or the campaign's own.
            self.contents = VariantContents(campaign)
            self.sender = campaign_sender(campaign)
            self.links = (
                LinkBook(campaign.workspace_id, campaign_id=campaign.pk)
                if campaign.track_clicks
                else None
            )
            self.transport = self.senders.for_address(self.sender[1])
            self.gate = DeliveryGate(
                backend=self.senders.backend_for(self.sender[1]),
                sending_domain=self.senders.sending_domain(self.sender[1]),
                now=self.now,
            )
            # Every message of the batch has the same From: its return-path host once.
            self.return_host = envelope_host(self.senders.sending_domain(self.sender[1]))
        return sendable

    def send(self, sendable: list[tuple[Message, Contact]]) -> None:
        """Chunk by chunk, two at a time: while one chunk is delivered by the batch's
        delivery thread, the next is rendered and built here (CPU), and the database is only
        touched from this thread. A chunk is marked ``sending`` only after the previous one's
        outcomes are written, so a crash leaves at most one chunk in ``sending``."""
        delivering: _Delivery | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp") as pool:
            try:
                for start in range(0, len(sendable), pipeline.SEND_CHUNK):
                    if start and not _still_sending(self.campaign):
                        self.interrupted = True
                        break
                    chunk = sendable[start : start + pipeline.SEND_CHUNK]
                    admitted = self.gate.admit(chunk)  # the rest waits (deferred)
                    self.settled += len(chunk) - len(admitted)
                    allowed = self._slots(len(admitted))
                    self.gate.give_back(admitted[allowed:])
                    built = self._build_all(admitted[:allowed])
                    if delivering is not None:
                        previous, delivering = delivering, None
                        self._settle(previous)
                    if self.stopped:
                        break  # paused for errors: what was just built stays queued
                    delivering = self._start_delivery(pool, built)
                    if allowed < len(admitted):
                        break  # this minute's budget is spent
                    self.maybe_hand_on()
            finally:
                if delivering is not None:
                    self._settle(delivering)

    def _slots(self, wanted: int) -> int:
        """Sends granted by the campaign's and the backend's budgets this minute."""
        campaign = self.campaign
        if campaign.rate_per_minute:
            wanted = pipeline.take_slots(
                f"campaign:{campaign.pk}", campaign.rate_per_minute, wanted
            )
        return self.senders.take_slots(self.sender[1], wanted) if wanted else 0

    def _start_delivery(self, pool: ThreadPoolExecutor, built: list) -> _Delivery | None:
        """Mark the chunk ``sending`` (one UPDATE, committed before anything leaves), then
        hand what this worker won to the delivery thread."""
        built = self._still_mailable(built)
        won = pipeline.mark_sending_many({m.id: m.message_id for m, _ in built})
        delivery = _Delivery([(m, outgoing) for m, outgoing in built if m.id in won])
        if delivery.items and self.transport.background_delivery:
            delivery.future = pool.submit(self._deliver, delivery)
        elif delivery.items:
            # Here and now; an unexpected error surfaces in _settle, after the outcomes known
            # so far are written, as it would from the thread.
            delivery.future = Future()
            try:
                self._deliver(delivery)
                delivery.future.set_result(None)
            except Exception as exc:  # noqa: BLE001 (re-raised by _settle)
                delivery.future.set_exception(exc)
        return delivery

    def _still_mailable(self, built: list) -> list:
        """The chunk without those suppressed or unsubscribed (since the snapshot, or since
        the batch began: a batch may take minutes to send): a change committed before a
        chunk is marked ``sending`` stops its message (three queries per chunk, the only
        suppression check of a campaign message after the snapshot)."""
        campaign = self.campaign
        blocked = blocked_addresses(
            campaign.workspace_id,
            [m.email for m, _ in built],
            domain_id=campaign.sending_domain_id,
            marketing=True,
        )
        if not blocked:
            return built
        pipeline.record_suppressed([m.id for m, _ in built if m.email.lower() in blocked])
        return [(m, outgoing) for m, outgoing in built if m.email.lower() not in blocked]

    def _deliver(self, delivery: _Delivery) -> None:
        """In the delivery thread: one message after the other over the open connection,
        until the chunk is done or errors in a row call for a pause. No database access."""
        for message, outgoing in delivery.items:
            delivery.attempted += 1
            if self.gate.holds(message):  # its domain throttled us earlier in the batch
                delivery.held.append(message)
                continue
            try:
                provider_id = self.transport.deliver(outgoing)
                delivery.sent.append((message, provider_id or message.message_id))
                self.delivery_errors = 0
            except ServerUnavailable as exc:
                # Nothing left: this message and the rest of the chunk go back to the queue.
                delivery.attempted -= 1
                delivery.unavailable = exc
                return
            except DeliveryError as exc:
                delivery.failed.append((message, exc))
                self.gate.observe(message, exc)
                if isinstance(exc, ConnectionLost):
                    self.transport.close()
                bounced = isinstance(exc, PermanentFailure)
                self.delivery_errors = 0 if bounced else self.delivery_errors + 1
                if self.delivery_errors >= pipeline.ERROR_BURST:
                    delivery.burst = True
                    return

    def _settle(self, delivery: _Delivery) -> None:
        """Wait for a chunk's delivery and write its outcomes set-based. Messages never
        handed off go back to the queue; one whose hand-off raised something unexpected stays
        ``sending`` for the sweeper (whether it left is unknown)."""
        try:
            if delivery.future is not None:
                delivery.future.result()
        finally:
            back = delivery.items[delivery.attempted :]
            pipeline.unmark_sending(m.id for m, _ in back)
            self.gate.defer_held(delivery.held)
            pipeline.record_outcomes(
                workspace=self.campaign.workspace, sent=delivery.sent, failed=delivery.failed
            )
        self.gate.record(m for m, _ in delivery.sent)
        if delivery.unavailable is not None:
            self.settled -= len(back)
            self.stopped = self.resting = True
            error = delivery.unavailable
            logger.warning("campaign %s: server unavailable: %s", self.campaign.pk, error)
            if error.code and error.code >= 500:  # refused for good: someone must fix it
                pipeline.pause_for_errors(
                    self.campaign.pk, f"The mail server refused to send: {error.message}"
                )
        if any(isinstance(error, PermanentFailure) for _, error in delivery.failed):
            self.stopped |= breakers.check_bounces(self.campaign) is not None
        if delivery.burst:
            self.stopped = True
            self._pause(self.delivery_errors, delivery.failed[-1][0].error)

    def _build_all(self, chunk: list[tuple[Message, Contact]]) -> list:
        """The chunk's emails, prepared for the wire; messages whose template fails are
        failed (set-based)."""
        built, broken = [], []
        for message, contact in chunk:
            self.settled += 1
            try:
                built.append((message, self.transport.prepare(self._build(message, contact))))
                self.render_errors = 0
            except Exception as exc:  # a template error must not stop the campaign
                message.status = MessageStatus.FAILED
                message.error = f"rendering failed: {exc}"[:2000]
                broken.append(message)
                self.render_errors += 1
                if self.render_errors >= pipeline.ERROR_BURST:
                    self.stopped = True
                    break
        if broken:
            Message.objects.bulk_update(broken, ["status", "error"])
        if self.stopped:
            self._pause(self.render_errors, broken[-1].error)
        return built

    def _build(self, message: Message, contact: Contact):
        campaign = self.campaign
        compiled, from_name = self.contents.for_message(message)
        rendered = compiled.render(_context(contact, campaign, message))
        from_email = self.sender[1]
        message.message_id = new_message_id(from_email.rpartition("@")[2])
        html = (
            track(rendered.html, message, self.links, opens=campaign.track_opens)
            if rendered.html
            else ""
        )
        email = build_email(
            message=message,
            subject=rendered.subject,
            html=html,
            text=rendered.text,
            from_email=from_email,
            from_name=from_name,
            reply_to=campaign.reply_to,
            marketing=True,
        )
        email.return_path = return_path(message.id, self.return_host)
        return email

    def _pause(self, failures: int, last_error: str) -> None:
        pipeline.pause_for_errors(
            self.campaign.pk, f"{failures} failures in a row; last: {last_error}"
        )

    def maybe_hand_on(self, *, again: bool = False) -> None:
        """Queue the chain's next batch while unclaimed messages wait; once per batch, or
        ``again`` after a pause stopped it."""
        if self.hand_on is None or (self.handed and not again) or not self.settled or self.resting:
            return
        if pipeline.has_unclaimed(self.campaign.pk):
            self.handed = True
            self.hand_on(str(self.campaign.pk))

    def close(self) -> None:
        self.senders.close()


@dataclass
class _Delivery:
    """One chunk on its way: what was won, how far the delivery thread got, what happened."""

    items: list[tuple[Message, Outgoing]]
    attempted: int = 0
    burst: bool = False  # ERROR_BURST failures in a row: the campaign pauses
    unavailable: ServerUnavailable | None = None  # the rest of the chunk goes back
    held: list[Message] = field(default_factory=list)  # kept back: domain throttled
    sent: list[tuple[Message, str]] = field(default_factory=list)
    failed: list[tuple[Message, DeliveryError]] = field(default_factory=list)
    future: Future | None = None


def _mailable(contact: Contact | None) -> bool:
    return contact is not None and contact.status == "active" and not contact.archived_at


def _still_sending(campaign: Campaign) -> bool:
    return Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).exists()


def send_transactional(message_id) -> str:
    """Send one transactional message (queued by the API); returns its final status."""
    message = Message.objects.select_related("workspace").filter(pk=message_id).first()
    if message is None or message.status != MessageStatus.QUEUED:
        return message.status if message else "missing"
    payload = dict(message.payload)
    payload.setdefault("to", [message.email])
    everyone = [
        *payload.get("to", [message.email]),
        *payload.get("cc", []),
        *payload.get("bcc", []),
    ]
    blocked = blocked_addresses(message.workspace_id, everyone, marketing=False)
    for part in ("to", "cc", "bcc"):
        payload[part] = [a for a in payload.get(part) or [] if a.lower() not in blocked]
    if not payload["to"]:
        pipeline.record_suppressed([message.id])
        return MessageStatus.SUPPRESSED
    contact = Contact.objects.filter(pk=message.contact_id).first() if message.contact_id else None
    try:
        compiled = _compile(
            payload.get("subject", ""), payload.get("html", ""), payload.get("text", "")
        )
        rendered = compiled.render(_context(contact, None, message, payload.get("variables") or {}))
    except (ValidationError, Exception) as exc:
        Message.objects.filter(id=message.id).update(
            status=MessageStatus.FAILED, error=f"rendering failed: {exc}"[:2000]
        )
        return MessageStatus.FAILED
    links = (
        LinkBook(message.workspace_id, message_id=message.pk)
        if payload.get("track_clicks")
        else None
    )
    html = (
        track(rendered.html, message, links, opens=bool(payload.get("track_opens")))
        if rendered.html
        else ""
    )
    message.message_id = new_message_id(payload["from_email"].rpartition("@")[2])
    email = build_email(
        message=message,
        subject=rendered.subject,
        html=html,
        text=rendered.text,
        from_email=payload["from_email"],
        from_name=payload.get("from_name", ""),
        reply_to=payload.get("reply_to", ""),
        to=payload["to"],
        cc=payload.get("cc"),
        bcc=payload.get("bcc"),
        headers=payload.get("headers"),
        marketing=False,
    )
    if not pipeline.mark_sending(message.id):
        return MessageStatus.SENDING
    Message.objects.filter(id=message.id).update(message_id=message.message_id)
    senders = Senders(message.workspace_id)
    email.return_path = return_path(
        message.id, envelope_host(senders.sending_domain(payload["from_email"]))
    )
    # Transactional mail never waits for the backend's budget, but spends it: campaigns slow
    # down instead.
    senders.take_slot(payload["from_email"])
    try:
        provider_id = senders.for_address(payload["from_email"]).send(email)
    except DeliveryError as exc:
        message.error = exc.message
        return pipeline.record_failure(message, exc)
    finally:
        senders.close()
    pipeline.record_sent(message, provider_id or message.message_id)
    return MessageStatus.SENT
