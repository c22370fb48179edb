"""Messages to people other than the one who wrote: a customer after a purchase made by a
cashier or a till, admins about a low rating. Rendered in the recipient's language for the
messenger they chose in Settings, else the one they used last, and written to the outbox
in the same transaction as the change that caused them; the outbox sender
(bot/delivery/outbox.py) delivers them after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, case, false, or_, select

from bot.channels import registry
from bot.config import Settings
from bot.core.i18n import I18n, Translator
from bot.core.replies import Reply, to_json
from bot.storage.models import Customer, Identity, OutboxMessage, Staff
from bot.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.channels.base import Channel

Render = Callable[[Translator], list[Reply]]
# a customer's identities, best first: the messenger they chose in Settings, then the latest used
CHOSEN_FIRST = (case((Identity.channel == Customer.preferred_channel, 0), else_=1),
                Identity.last_seen_at.desc())
IN_CHUNK = 5000  # ids in one IN (...) list: well under every database's parameter limit


@dataclass(frozen=True, slots=True)
class Notification:
    render: Render
    customer_id: int | None = None  # a customer: their most recently used channel
    identity_id: int | None = None  # one identity (a staff member)
    admins: bool = False  # every admin
    category: str = "service"  # "service" (purchases, refunds, alerts) or "marketing"


@dataclass(frozen=True, slots=True)
class Recipient:
    identity_id: int
    channel: str
    external_id: str
    chosen_locale: str | None  # in Settings (the customer's, else this identity's)
    messenger_locale: str | None  # what their messenger reports


# what a recipient's language is decided from (``I18n.for_person``)
LOCALES = (Customer.locale, Identity.locale, Identity.messenger_locale)


def _recipient(identity_id: int, channel: str, external_id: str, customer_locale: str | None,
               identity_locale: str | None, messenger_locale: str | None) -> Recipient:
    return Recipient(identity_id, channel, external_id, customer_locale or identity_locale,
                     messenger_locale)


class Notifier:
    def __init__(self, i18n: I18n, settings: Settings, channels: dict[str, Channel]) -> None:
        self.i18n = i18n
        self.settings = settings
        self.channels = channels  # the registry the composition root fills (shared with the sender)
        self.on_enqueued: Callable[[], None] = lambda: None  # wakes the sender after a commit

    async def enqueue(self, uow: UnitOfWork, notifications: Sequence[Notification],
                      now: datetime, *, not_before: datetime | None = None) -> int:
        """Write the messages into the outbox inside ``uow``: they are sent if and only if
        the caller commits, not before ``not_before`` (default: at once). Returns how many
        were queued."""
        queued = 0
        for notification in notifications:
            queued += len(await self.enqueue_one(uow, notification, now, not_before=not_before))
        return queued

    async def enqueue_one(self, uow: UnitOfWork, notification: Notification, now: datetime, *,
                          not_before: datetime | None = None) -> list[OutboxMessage]:
        """Like ``enqueue`` for one notification; returns its rows (flushed, with ids)."""
        rows = [row for recipient in await self._recipients(uow, notification)
                if (row := self._row(uow, notification, recipient, now, not_before)) is not None]
        if rows:
            await uow.session.flush()
        return rows

    def _row(self, uow: UnitOfWork, notification: Notification, recipient: Recipient,
             now: datetime, not_before: datetime | None) -> OutboxMessage | None:
        """The message rendered in the recipient's language, added to the session (None
        when there is nothing to say)."""
        t = self.i18n.translator(self.i18n.for_person(recipient.chosen_locale,
                                                      recipient.messenger_locale))
        payload = [to_json(reply) for reply in notification.render(t)]
        if not payload:
            return None
        row = OutboxMessage(
            channel=recipient.channel, external_id=recipient.external_id,
            identity_id=recipient.identity_id, category=notification.category,
            payload=payload, status="pending", attempts=0,
            not_before=not_before or now, created_at=now)
        uow.session.add(row)
        return row

    async def enqueue_many(self, uow: UnitOfWork, notifications: Sequence[Notification],
                           now: datetime, *, not_before: datetime | None = None
                           ) -> list[OutboxMessage | None]:
        """``enqueue_one`` for many notifications to customers (a trigger pass): their
        recipients in one query, their rows in one flush. Returns each one's row, or None
        when the customer cannot be reached."""
        if any(n.customer_id is None for n in notifications):
            raise ValueError("enqueue_many is for notifications to customers")
        recipients = {category: await self._customer_recipients(
            uow, list({n.customer_id for n in notifications
                       if n.category == category and n.customer_id is not None}), category)
            for category in {n.category for n in notifications}}
        rows: list[OutboxMessage | None] = []
        for notification in notifications:
            found, customer_id = recipients[notification.category], notification.customer_id
            recipient = found.get(customer_id) if customer_id is not None else None  # checked above
            rows.append(None if recipient is None else
                        self._row(uow, notification, recipient, now, not_before))
        if any(rows):
            await uow.session.flush()
        return rows

    def channels_for(self, category: str) -> list[str]:
        """The channels a message of this category may go through: a channel may keep
        marketing off (``viber.marketing = false``: Viber's bot messages are paid), and the
        customer's next most recent channel gets it, or nobody."""
        if category == "marketing":
            return [name for name in self.channels
                    if registry.takes_marketing(name, self.settings)]
        return list(self.channels)

    async def _customer_recipients(self, uow: UnitOfWork, customer_ids: list[int],
                                   category: str = "service") -> dict[int, Recipient]:
        """Each customer's chosen or most recently used reachable identity (as
        ``_recipients``)."""
        found: dict[int, Recipient] = {}
        for start in range(0, len(customer_ids), IN_CHUNK):
            stmt = (select(Identity.customer_id, Identity.id, Identity.channel,
                           Identity.external_id, *LOCALES)
                    .join(Customer, Identity.customer_id == Customer.id)
                    .where(Identity.reachable.is_(True),
                           Identity.channel.in_(self.channels_for(category)),
                           Identity.customer_id.in_(customer_ids[start:start + IN_CHUNK]))
                    .order_by(Identity.customer_id, *CHOSEN_FIRST))
            for row in (await uow.session.execute(stmt)).all():
                found.setdefault(row.customer_id, _recipient(*row[1:]))
        return found

    async def _recipients(self, uow: UnitOfWork, notification: Notification) -> list[Recipient]:
        stmt = (select(Identity.id, Identity.channel, Identity.external_id, *LOCALES)
                .outerjoin(Customer, Identity.customer_id == Customer.id)
                .where(Identity.reachable.is_(True),
                       Identity.channel.in_(self.channels_for(notification.category))))
        if notification.customer_id is not None:
            stmt = (stmt.where(Identity.customer_id == notification.customer_id)
                    .order_by(*CHOSEN_FIRST).limit(1))
        elif notification.identity_id is not None:
            stmt = stmt.where(Identity.id == notification.identity_id)
        elif notification.admins:
            configured = [tuple(a.split(":", 1)) for a in self.settings.admins if ":" in a]
            staff = select(Staff.identity_id).where(Staff.role == "admin")
            stmt = stmt.where(Identity.id.in_(staff) | _any_of(configured))
        else:
            return []
        rows = (await uow.session.execute(stmt)).all()
        return [_recipient(*row) for row in rows]


def _any_of(pairs: list[tuple[str, ...]]) -> ColumnElement[bool]:
    if not pairs:
        return false()
    return or_(*(and_(Identity.channel == c, Identity.external_id == e) for c, e in pairs))
