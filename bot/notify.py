"""Messages to people other than the one who wrote: a customer after a purchase made by a
cashier or a till, admins about a low rating. Sent after the transaction commits, to the
channel the person used last, in their language.

(Delivery is direct for now; the outbox with rate limits and retries replaces it.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.config import Settings
from bot.i18n import I18n, Translator
from bot.replies import Reply
from bot.storage.models import Customer, Identity, Staff
from bot.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.channels.base import Channel

log = logging.getLogger(__name__)

Render = Callable[[Translator], list[Reply]]


@dataclass(frozen=True, slots=True)
class Notification:
    render: Render
    customer_id: int | None = None  # a customer: their most recently used channel
    identity_id: int | None = None  # one identity (a staff member)
    admins: bool = False  # every admin


@dataclass(frozen=True, slots=True)
class Recipient:
    channel: str
    external_id: str
    locale: str | None


class Notifier:
    def __init__(self, sessions: async_sessionmaker, i18n: I18n, settings: Settings) -> None:
        self.sessions = sessions
        self.i18n = i18n
        self.settings = settings
        self.channels: dict[str, Channel] = {}  # registered by the composition root

    async def deliver(self, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            for recipient in await self._recipients(notification):
                channel = self.channels.get(recipient.channel)
                if channel is None:
                    continue
                t = self.i18n.translator(self.i18n.choose(recipient.locale))
                try:
                    await channel.send(recipient.external_id, notification.render(t))
                except Exception:  # one unreachable person must not stop the others
                    log.exception("could not notify %s:%s", recipient.channel, recipient.external_id)

    async def _recipients(self, notification: Notification) -> list[Recipient]:
        async with UnitOfWork(self.sessions) as uow:
            stmt = (select(Identity.channel, Identity.external_id, Identity.locale, Customer.locale)
                    .outerjoin(Customer, Identity.customer_id == Customer.id)
                    .where(Identity.reachable.is_(True), Identity.channel.in_(self.channels)))
            if notification.customer_id is not None:
                stmt = (stmt.where(Identity.customer_id == notification.customer_id)
                        .order_by(Identity.last_seen_at.desc()).limit(1))
            elif notification.identity_id is not None:
                stmt = stmt.where(Identity.id == notification.identity_id)
            elif notification.admins:
                configured = [tuple(a.split(":", 1)) for a in self.settings.admins if ":" in a]
                staff = select(Staff.identity_id).where(Staff.role == "admin")
                stmt = stmt.where(Identity.id.in_(staff) | _any_of(configured))
            else:
                return []
            rows = (await uow.session.execute(stmt)).all()
        return [Recipient(channel, external, customer_locale or locale)
                for channel, external, locale, customer_locale in rows]


def _any_of(pairs: list[tuple[str, ...]]) -> ColumnElement[bool]:
    if not pairs:
        return false()
    return or_(*(and_(Identity.channel == c, Identity.external_id == e) for c, e in pairs))
