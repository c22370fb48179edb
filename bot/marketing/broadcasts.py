"""Broadcasts: the owner's message (text, optional picture and link button) to a segment.

A broadcast is a ``draft`` while the owner composes it, then ``sending`` from the explicit
confirmation, then ``done`` or ``cancelled``. The confirmation fixes the audience: in its
transaction one ``INSERT … SELECT`` writes a ``broadcast_recipients`` row (unique per
broadcast and customer) for every member of the segment (``bot.marketing.segment_snapshot.members``:
the scored and recency segments as of the latest nightly snapshot, as the owner saw them) who
consented, is reachable in a channel and did not opt out of offers and news
(``notify_promotions``), and their count is the broadcast's ``audience``. Whoever joins the
segment later does not get it; a second tap finds it no longer a draft.

``advance`` (a scheduler job every few seconds) then writes the outbox messages from those
rows, in batches of ``SEND_BATCH`` in customer order, each batch one transaction that
marks its rows written (``written_at``) together with their messages. So an enqueue cut
short by a crash keeps whole batches, and the next run goes on with the rows not written
yet: nobody gets the message twice, and the outbox sender resumes delivery on its own.
Recipients checked again when their batch is written: one who opted out or can no longer
be reached gets no message (their row counts as failed); an erased customer's row is gone
with them.

Each message is due at its turn at the pacing channel's rate (``ChannelKind.paces_broadcasts``),
never inside the quiet hours, so whatever else is queued meanwhile (a purchase notice, the
owner's progress line) goes out between them rather than behind the whole broadcast.

Every copy carries «Unsubscribe» in its recipient's language (``unsub:<broadcast id>``,
bot/handlers/unsubscribe.py): a tap turns off their offers and news, and the first tap of
someone the broadcast was written to counts in its report, so a made-up id or a second tap
counts nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, exists, func, insert, literal, select, update
from sqlalchemy.engine import CursorResult

from bot.channels import registry
from bot.config import Settings
from bot.core.conversation import Core
from bot.core.i18n import Translator
from bot.core.replies import Button, Picture, Reply, Template, Text, keyboard
from bot.delivery.notify import Notification
from bot.loyalty.program_settings import effective_triggers
from bot.marketing import segment_snapshot
from bot.marketing.quiet_hours import past_quiet, quiet_until
from bot.storage.database import Sessions
from bot.storage.models import (
    Broadcast,
    BroadcastRecipient,
    Customer,
    Identity,
    OutboxMessage,
    Purchase,
)
from bot.storage.uow import UnitOfWork
from bot.storage.views import BroadcastView

log = logging.getLogger(__name__)
TEMPLATE = "broadcast"  # the key of a broadcast's messenger template (recipient_replies)
TEMPLATE_VALUES = ("text",)  # what recipient_replies fills that template with

MAX_TEXT = 1000  # characters; a picture's caption on Telegram takes up to 1024
MAX_LABEL = 64
MAX_URL = 512
SEND_BATCH = 2000  # recipients written to the outbox per transaction
SLOT_SECONDS = 5  # messages of this many seconds at the platform's rate share one due time
PROGRESS_EVERY = timedelta(seconds=15)  # the progress line changes at most this often
UNSUBSCRIBE = "unsub"  # the payload prefix of the button under every copy
QUEUED = ("pending", "sending")
FAILED = ("failed", "blocked")
AWAY = "waiting"  # kept for a web visitor with no page open: theirs when they come back


# --- who gets it ------------------------------------------------------------------------

def reachable_member(at: datetime, channels: Iterable[str] | None = None) -> ColumnElement[bool]:
    """Registered by ``at``, consented, takes offers and news, reachable in a channel (one
    of ``channels`` when given: those the app can deliver through)."""
    reachable = exists().where(Identity.customer_id == Customer.id, Identity.reachable.is_(True))
    if channels is not None:
        reachable = reachable.where(Identity.channel.in_(list(channels)))
    return and_(Customer.registered_at.is_not(None), Customer.registered_at <= at,
                Customer.consent_at.is_not(None), Customer.notify_promotions.is_(True), reachable)


async def audience(uow: UnitOfWork, code: str, at: datetime, settings: Settings,
                   channels: Iterable[str] | None = None) -> int:
    """How many of segment ``code`` would get a broadcast now (KeyError: no such segment)."""
    members = await segment_snapshot.members(uow, code, at, settings)
    return (await uow.session.execute(
        select(func.count()).select_from(Customer)
        .where(Customer.id.in_(members), reachable_member(at, channels)))).scalar_one()


def per_second(broadcast: BroadcastView, settings: Settings) -> float:
    """Messages a second the outbox sends of this broadcast: its share of the pacing
    channel's limit over the API calls one message costs there (on Telegram a picture with
    its caption and buttons is one; the template hint costs nothing). The button's words
    don't change it."""
    pace, per_second = registry.pace(settings.outbox)
    every_copy = recipient_replies(broadcast, Button("", UNSUBSCRIBE))
    return per_second * settings.outbox.outbox_share / max(1, pace.cost(every_copy))


def sending_minutes(count: int, broadcast: BroadcastView, settings: Settings) -> int:
    """Whole minutes it takes to send ``count`` messages of ``broadcast`` (as above)."""
    return max(1, math.ceil(count / per_second(broadcast, settings) / 60)) if count else 0


def valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and len(url) <= MAX_URL
            and not any(ch.isspace() for ch in url))


def parse_button(typed: str) -> tuple[str, str] | None:
    """«Label https://…» → (label, url); None when it is not that."""
    label, _, url = typed.strip().rpartition(" ")
    label = label.strip()
    if not label or len(label) > MAX_LABEL or not valid_url(url):
        return None
    return label, url


def unsubscribe_button(t: Translator, broadcast_id: int) -> Button:
    """«Unsubscribe» in the recipient's language (short: a WhatsApp reply button takes 20
    characters)."""
    return Button(t.gettext("🔕 Unsubscribe"), f"{UNSUBSCRIBE}:{broadcast_id}")


def message(broadcast: BroadcastView, unsubscribe: Button | None = None) -> list[Reply]:
    """The broadcast as a customer sees it: the owner's words (in no particular language),
    their link button, and ``unsubscribe`` under it."""
    buttons = keyboard([Button(broadcast.button_label, url=broadcast.button_url)]
                       if broadcast.button_label and broadcast.button_url else [],
                       [unsubscribe] if unsubscribe else [])
    if broadcast.image:
        ref = f"broadcast:{broadcast.id}"  # the outbox keeps this, not a copy of the picture
        return [Picture(broadcast.image, broadcast.text, buttons, cache_key=ref, stored=ref)]
    return [Text(broadcast.text, buttons)]


def recipient_replies(broadcast: BroadcastView, unsubscribe: Button) -> list[Reply]:
    """What each recipient's outbox message holds: the message with its «Unsubscribe» and,
    for WhatsApp outside its 24-hour window, the "broadcast" template it stands for (an
    approved template has no button of ours: they can unsubscribe in Settings)."""
    return [*message(broadcast, unsubscribe), Template(TEMPLATE, (("text", broadcast.text),))]


async def stored_image(sessions: Sessions, ref: str) -> bytes | None:
    """The picture of ``broadcast:<id>`` (for the outbox sender)."""
    kind, _, number = ref.partition(":")
    if kind != "broadcast" or not number.isdecimal():
        return None
    async with UnitOfWork(sessions) as uow:
        return await uow.broadcasts.image_of(int(number))


# --- start, enqueue, stop -----------------------------------------------------------------

async def start(uow: UnitOfWork, broadcast_id: int, now: datetime,
                settings: Settings) -> int | None:
    """The owner confirmed: the audience is fixed (a recipient row for each reachable member
    of the segment, in one statement), and the draft becomes ``sending`` with its size.
    Returns that size; 0 leaves the draft as it was (nobody can get it); None when it is no
    longer a draft (a second tap)."""
    broadcast = await uow.broadcasts.locked(broadcast_id)
    if broadcast is None or broadcast.status != "draft" or broadcast.segment is None:
        return None
    count = await _fix_audience(uow, broadcast, now, settings)
    if count:
        broadcast.status, broadcast.confirmed_at, broadcast.audience = "sending", now, count
        broadcast.reported = {"figures": Progress.starting(count).figures(),  # the first line
                              "at": now.isoformat()}
    return count


async def _fix_audience(uow: UnitOfWork, broadcast: Broadcast, now: datetime,
                        settings: Settings) -> int:
    try:
        members = await segment_snapshot.members(uow, broadcast.segment or "", now, settings)
    except KeyError:  # the segment is gone (a source renamed): nobody
        return 0
    chosen = (select(literal(broadcast.id, Broadcast.id.type), Customer.id,
                     literal(now, BroadcastRecipient.created_at.type))
              .where(Customer.id.in_(members), reachable_member(now)))
    result = cast("CursorResult[Any]", await uow.session.execute(
        insert(BroadcastRecipient).from_select(["broadcast_id", "customer_id", "created_at"], chosen)))
    return result.rowcount or 0


@dataclass(frozen=True, slots=True)
class Pending:
    """A recipient whose message is still to be written."""

    row_id: int
    customer_id: int
    wanted: bool  # still a member who takes offers and can be reached


async def enqueue(core: Core, broadcast_id: int) -> int:
    """Write the outbox messages of the recipients fixed at the confirmation, batch by batch
    in customer order, each batch its own transaction; returns how many were written. Stops
    when the broadcast is no longer sending, and marks it fully enqueued when nobody is
    left."""
    written, after = 0, 0
    while True:
        now = core.services.clock.now()
        async with core.unit_of_work() as uow:
            broadcast = await uow.broadcasts.locked(broadcast_id)
            if (broadcast is None or broadcast.status != "sending"
                    or broadcast.enqueued_at is not None):
                return written
            batch = await _next_batch(uow, broadcast_id, after, now, core.notifier.channels)
            if not batch:
                broadcast.enqueued_at = now
                await uow.commit()
                return written
            messages = await _write(core, uow, broadcast, batch, now, written)
            await uow.commit()
        written += messages
        after = batch[-1].customer_id
        core.notifier.on_enqueued()


async def _next_batch(uow: UnitOfWork, broadcast_id: int, after: int, now: datetime,
                      channels: Iterable[str]) -> list[Pending]:
    """Up to ``SEND_BATCH`` recipients still without their message, after customer ``after``
    (an erased customer's row is gone with them)."""
    rows = await uow.session.execute(
        select(BroadcastRecipient.id, BroadcastRecipient.customer_id,
               reachable_member(now, channels))
        .join(Customer, Customer.id == BroadcastRecipient.customer_id)
        .where(BroadcastRecipient.broadcast_id == broadcast_id,
               BroadcastRecipient.written_at.is_(None), BroadcastRecipient.customer_id > after)
        .order_by(BroadcastRecipient.customer_id).limit(SEND_BATCH))
    return [Pending(row_id, customer_id, bool(wanted)) for row_id, customer_id, wanted in rows]


async def _write(core: Core, uow: UnitOfWork, broadcast: Broadcast, batch: Sequence[Pending],
                 now: datetime, position: int) -> int:
    """One batch: the messages of those still wanting it, and every row marked written
    (those who left, opted out or cannot be reached get no message). Returns how many
    messages were written."""
    wanted = [pending.customer_id for pending in batch if pending.wanted]
    rows = await _messages(core, uow, broadcast, wanted, now, position)
    message_of = {customer_id: row.id for customer_id, row in zip(wanted, rows, strict=True)
                  if row is not None}
    await uow.session.execute(update(BroadcastRecipient), [
        {"id": pending.row_id, "written_at": now,
         "outbox_message_id": message_of.get(pending.customer_id)} for pending in batch])
    return len(message_of)


async def _messages(core: Core, uow: UnitOfWork, broadcast: Broadcast, ids: Sequence[int],
                    now: datetime, position: int) -> list[OutboxMessage | None]:
    """The outbox messages for ``ids``, each due at its turn at the platform's rate (None:
    the customer cannot be reached in the app's channels)."""
    services = core.services

    copies: dict[str, list[Reply]] = {}  # one per language

    def render(t: Translator) -> list[Reply]:
        if t.locale not in copies:
            copies[t.locale] = recipient_replies(broadcast, unsubscribe_button(t, broadcast.id))
        return copies[t.locale]

    slot = max(1, int(per_second(broadcast, services.settings) * SLOT_SECONDS))
    quiet, zone = (await effective_triggers(uow, services.settings)), services.timezone
    first = quiet_until(now, quiet, zone)
    rows: list[OutboxMessage | None] = []
    start = 0
    while start < len(ids):
        number = (position + start) // slot  # the run's n-th slot of SLOT_SECONDS
        end = (number + 1) * slot - position
        due = past_quiet(first + timedelta(seconds=number * SLOT_SECONDS), quiet, zone)
        rows += await core.notifier.enqueue_many(
            uow, [Notification(render, customer_id=c, category="marketing")
                  for c in ids[start:end]], now, not_before=due)
        start = end
    return rows


async def cancel(uow: UnitOfWork, broadcast_id: int, now: datetime) -> int | None:
    """Stop: the broadcast is cancelled and its messages still waiting in the outbox are
    marked ``cancelled`` (those already handed to the platform go). Returns how many
    customers will not get it, or None when it was no longer a draft or sending."""
    broadcast = await uow.broadcasts.locked(broadcast_id)
    if broadcast is None or broadcast.status not in ("draft", "sending"):
        return None
    was = broadcast.status
    broadcast.status, broadcast.finished_at = "cancelled", now
    if was == "draft":
        return 0
    mine = select(BroadcastRecipient.outbox_message_id).where(
        BroadcastRecipient.broadcast_id == broadcast_id,
        BroadcastRecipient.outbox_message_id.is_not(None))
    result = cast("CursorResult[Any]", await uow.session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(mine), OutboxMessage.status == "pending")
        .values(status="cancelled").execution_options(synchronize_session=False)))
    never_written = (await uow.session.execute(select(func.count()).where(
        BroadcastRecipient.broadcast_id == broadcast_id,
        BroadcastRecipient.written_at.is_(None)))).scalar_one()
    return (result.rowcount or 0) + never_written


# --- unsubscribing --------------------------------------------------------------------------

async def note_unsubscribed(uow: UnitOfWork, broadcast_id: int, customer_id: int,
                            at: datetime) -> bool:
    """Count a tap on «Unsubscribe» for the broadcast: only the first of a customer it was
    written to (a replayed tap, or an id of a broadcast they never got, counts nothing).
    Whether it counted."""
    return await uow.broadcasts.mark_unsubscribed(broadcast_id, customer_id, at)


async def unsubscribed(uow: UnitOfWork, broadcast_id: int) -> int:
    """How many of the broadcast's recipients unsubscribed with its button."""
    return (await uow.session.execute(
        select(func.count()).select_from(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == broadcast_id,
               BroadcastRecipient.unsubscribed_at.is_not(None)))).scalar_one()


# --- progress and the report ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Progress:
    audience: int  # fixed at the confirmation
    unwritten: int  # recipients whose message is not written yet
    sent: int
    failed: int  # failed, blocked, or unreachable (or opted out) when written
    waiting: int  # in the outbox, not sent yet
    away: int  # kept for web visitors who have not come back yet
    cancelled: int  # stopped: waiting in the outbox, or never written
    enqueued: bool  # every recipient written

    @classmethod
    def starting(cls, audience: int) -> Progress:
        return cls(audience, audience, 0, 0, 0, 0, 0, False)

    @property
    def left(self) -> int:
        return self.waiting + self.unwritten

    def figures(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "left": self.left}


async def progress(uow: UnitOfWork, broadcast: Broadcast) -> Progress:
    written = func.count(BroadcastRecipient.written_at)
    rows = (await uow.session.execute(
        select(OutboxMessage.status, written, func.count() - written)
        .select_from(BroadcastRecipient)
        .outerjoin(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_message_id)
        .where(BroadcastRecipient.broadcast_id == broadcast.id)
        .group_by(OutboxMessage.status))).all()
    by: dict[str | None, int] = {status: n for status, n, _unwritten in rows}
    unwritten = sum(n for _status, _written, n in rows)
    stopped = broadcast.status == "cancelled"
    return Progress(
        audience=broadcast.audience, unwritten=0 if stopped else unwritten, sent=by.get("sent", 0),
        failed=sum(by.get(s, 0) for s in FAILED) + by.get(None, 0),
        waiting=sum(by.get(s, 0) for s in QUEUED), away=by.get(AWAY, 0),
        cancelled=by.get("cancelled", 0) + (unwritten if stopped else 0),
        enqueued=broadcast.enqueued_at is not None)


@dataclass(frozen=True, slots=True)
class Report:
    progress: Progress
    buyers: int  # recipients who bought within the window
    purchases: int
    revenue: int  # minor units, net of refunds
    window_end: datetime
    paid: int = 0  # delivered through a channel that charges for them (Viber)
    unsubscribed: int = 0  # recipients who tapped «Unsubscribe» under it


async def report(uow: UnitOfWork, broadcast: Broadcast, settings: Settings) -> Report:
    """Delivery, then purchases by the customers it reached within
    ``console.attribution_days`` after the send (receipts not refunded in full; revenue net
    of refunds), and who unsubscribed with its button."""
    sent_at = broadcast.confirmed_at or broadcast.created_at
    end = sent_at + timedelta(days=settings.console.attribution_days)
    reached = (select(BroadcastRecipient.customer_id)
               .join(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_message_id)
               .where(BroadcastRecipient.broadcast_id == broadcast.id,
                      OutboxMessage.status == "sent"))
    buyers, purchases, revenue = (await uow.session.execute(
        select(func.count(func.distinct(Purchase.customer_id)), func.count(),
               func.coalesce(func.sum(Purchase.amount - Purchase.refunded_amount), 0))
        .where(Purchase.customer_id.in_(reached), Purchase.occurred_at >= sent_at,
               Purchase.occurred_at < end, Purchase.amount > Purchase.refunded_amount))).one()
    return Report(await progress(uow, broadcast), int(buyers), int(purchases), int(revenue), end,
                  await paid_messages(uow, broadcast), await unsubscribed(uow, broadcast.id))


async def paid_messages(uow: UnitOfWork, broadcast: Broadcast) -> int:
    """The broadcast's messages delivered through a channel that charges for them."""
    return (await uow.session.execute(
        select(func.count()).select_from(BroadcastRecipient)
        .join(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_message_id)
        .where(BroadcastRecipient.broadcast_id == broadcast.id, OutboxMessage.status == "sent",
               OutboxMessage.channel.in_(registry.paid_channels())))).scalar_one()


# --- the admin's progress line ----------------------------------------------------------------

def progress_key(broadcast_id: int) -> str:
    return f"broadcast:{broadcast_id}"


def progress_text(t: Translator, broadcast_id: int, done: Progress) -> str:
    return t.gettext("Broadcast #{id}: sent {sent}, failed {failed}, left {left}.").format(
        id=broadcast_id, **{k: t.number(v) for k, v in done.figures().items()})


def final_text(t: Translator, broadcast_id: int, done: Progress) -> str:
    text = t.gettext("Broadcast #{id} is finished: delivered {sent}, blocked or failed "
                     "{failed}.").format(id=broadcast_id, sent=t.number(done.sent),
                                         failed=t.number(done.failed))
    if done.away:
        text += " " + t.gettext("Waiting for web visitors to come back: {away}.").format(
            away=t.number(done.away))
    return text


def progress_notice(broadcast: BroadcastView, done: Progress, final: bool) -> Notification:
    """The progress line (a keyed Text: it replaces the previous one) for the author."""
    broadcast_id = broadcast.id

    def render(t: Translator) -> list[Reply]:
        if final:
            return [Text(final_text(t, broadcast_id, done), keyboard(
                [Button(t.gettext("📊 Report"), f"bc.report:{broadcast_id}")]),
                key=progress_key(broadcast_id))]
        return [Text(progress_text(t, broadcast_id, done), keyboard(
            [Button(t.gettext("⏹ Stop"), f"bc.stop:{broadcast_id}")]),
            key=progress_key(broadcast_id))]

    author = broadcast.author_identity_id
    return Notification(render, identity_id=author, admins=author is None)


async def _update_progress(core: Core, broadcast_id: int) -> None:
    """Tell the author how it goes when the figures changed (at most every
    ``PROGRESS_EVERY``), and finish the broadcast once nothing is left to send."""
    now = core.services.clock.now()
    async with core.unit_of_work() as uow:
        broadcast = await uow.broadcasts.locked(broadcast_id)
        if broadcast is None or broadcast.status != "sending":
            return
        done = await progress(uow, broadcast)
        final = done.enqueued and done.waiting == 0
        reported: dict[str, Any] = dict(broadcast.reported or {})
        if final:
            broadcast.status, broadcast.finished_at = "done", now
        elif reported.get("figures") == done.figures() or (
                "at" in reported and now - datetime.fromisoformat(reported["at"]) < PROGRESS_EVERY):
            return
        broadcast.reported = {"figures": done.figures(), "at": now.isoformat()}
        queued = await core.notifier.enqueue(uow, [progress_notice(broadcast, done, final)], now)
        await uow.commit()
    if queued:
        core.notifier.on_enqueued()


async def advance(core: Core) -> None:
    """The scheduler's job: write what is left of every broadcast being sent (a fresh
    confirmation, or one a restart interrupted), then update its progress line."""
    async with core.unit_of_work() as uow:
        sending = list((await uow.session.execute(
            select(Broadcast.id).where(Broadcast.status == "sending").order_by(Broadcast.id)
        )).scalars())
    for broadcast_id in sending:
        try:
            await enqueue(core, broadcast_id)
            await _update_progress(core, broadcast_id)
        except Exception:  # one broadcast's trouble must not stop the others; retried next run
            log.exception("broadcast %d: could not advance", broadcast_id)
