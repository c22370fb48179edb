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

from bot.channels import registry
from bot.config import Settings
from bot.core.i18n import I18n, Translator
from bot.core.replies import Reply, to_json
from bot.storage.models import OutboxMessage
from bot.storage.repositories.recipients import Recipient
from bot.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.channels.base import Channel

Render = Callable[[Translator], list[Reply]]


@dataclass(frozen=True, slots=True)
class Notification:
    render: Render
    customer_id: int | None = None  # a customer: their most recently used channel
    identity_id: int | None = None  # one identity (a staff member)
    admins: bool = False  # every admin
    category: str = "service"  # "service" (purchases, refunds, alerts) or "marketing"


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
        for notification in notifications:  # flushed with the commit: nobody needs their ids
            queued += len(await self._queue(uow, notification, now, not_before))
        return queued

    async def enqueue_one(self, uow: UnitOfWork, notification: Notification, now: datetime, *,
                          not_before: datetime | None = None) -> list[OutboxMessage]:
        """Like ``enqueue`` for one notification; returns its rows (flushed, with ids)."""
        rows = await self._queue(uow, notification, now, not_before)
        if rows:
            await uow.flush()
        return rows

    async def _queue(self, uow: UnitOfWork, notification: Notification, now: datetime,
                     not_before: datetime | None) -> list[OutboxMessage]:
        """The notification's rows, added to ``uow`` (not flushed yet)."""
        return [row for recipient in await self._recipients(uow, notification)
                if (row := self._row(uow, notification, recipient, now, not_before)) is not None]

    def _row(self, uow: UnitOfWork, notification: Notification, recipient: Recipient,
             now: datetime, not_before: datetime | None) -> OutboxMessage | None:
        """The message rendered in the recipient's language, queued in ``uow`` (None
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
        uow.outbox_messages.add(row)
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
            await uow.flush()
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
        return await uow.recipients.best_of_customers(customer_ids, self.channels_for(category))

    async def _recipients(self, uow: UnitOfWork, notification: Notification) -> list[Recipient]:
        channels = self.channels_for(notification.category)
        if notification.customer_id is not None:
            return await uow.recipients.best_of_customer(notification.customer_id, channels)
        if notification.identity_id is not None:
            return await uow.recipients.identity(notification.identity_id, channels)
        if notification.admins:
            configured = [tuple(a.split(":", 1)) for a in self.settings.admins if ":" in a]
            return await uow.recipients.admins(channels, configured)
        return []
