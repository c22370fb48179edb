"""Wallet cards (bot/wallet/): a customer's pass, the Apple devices registered for its
updates, and the updates queued in the outbox when a customer's points change."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import OutboxMessage, PointLot, SettingValue, WalletPass, WalletRegistration
from bot.storage.repositories._sql import IN_CHUNK, insert_ignoring_duplicates
from bot.storage.session import WALLET

WALLET_CHANNEL = "wallet"  # the outbox's channel of wallet updates; external_id: the customer id
ERASED = "erased:"  # a wallet row's recipient for an erased customer: "erased:<serial>"
SHOWN_RULES = ("program.tiers",)  # the rules a wallet card shows (the tiers' names and thresholds)


def changed_after(moment: datetime) -> datetime:
    """The first whole second after ``moment``'s."""
    return moment.replace(microsecond=0) + timedelta(seconds=1)


class WalletPasses:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_make(self, customer_id: int, channel: str, locale: str, now: datetime,
                          new_serial: Callable[[], str]) -> WalletPass:
        """The customer's wallet card, made on the first request; a request from another
        messenger or in another language rewrites it for that one, and the devices that hold
        it are told (an update is queued)."""
        await self.session.execute(insert_ignoring_duplicates(self.session, WalletPass).values(
            customer_id=customer_id, serial=new_serial(), channel=channel, locale=locale,
            google_saved=False, created_at=now, updated_at=now))
        found = (await self.session.execute(
            select(WalletPass).where(WalletPass.customer_id == customer_id)
            .execution_options(populate_existing=True))).scalar_one()
        if (found.channel, found.locale) != (channel, locale):
            found.channel, found.locale = channel, locale
            self.touch(found, now)
            await self.queue_updates({customer_id: now})
        return found

    async def queue_erasure(self, customer_id: int, now: datetime) -> None:
        """The customer is being erased and their card row goes with them: a wallet row names
        the card's serial, so that the object Google keeps is emptied too (if it was made)."""
        if not self.session.info.get(WALLET):
            return  # the wallet is off: nothing would deliver it
        wallet_pass = await self.of_customer(customer_id)
        if wallet_pass is not None and wallet_pass.google_saved:
            self.session.add(OutboxMessage(
                channel=WALLET_CHANNEL, external_id=ERASED + wallet_pass.serial, identity_id=None,
                category="service", payload=[], status="pending", attempts=0, not_before=now,
                created_at=now))
            await self.session.flush()  # written before the erasure clears the session

    async def by_serial(self, serial: str) -> WalletPass | None:
        return (await self.session.execute(
            select(WalletPass).where(WalletPass.serial == serial))).scalar_one_or_none()

    async def of_customer(self, customer_id: int) -> WalletPass | None:
        return (await self.session.execute(
            select(WalletPass).where(WalletPass.customer_id == customer_id)
            .execution_options(populate_existing=True))).scalar_one_or_none()

    async def register(self, pass_id: int, device_id: str, push_token: str, now: datetime) -> bool:
        """The device wants this pass's updates; True when it is new (its push token is
        brought up to date either way)."""
        existing = (await self.session.execute(select(WalletRegistration).where(
            WalletRegistration.pass_id == pass_id,
            WalletRegistration.device_id == device_id))).scalar_one_or_none()
        if existing is not None:
            existing.push_token = push_token
            return False
        self.session.add(WalletRegistration(pass_id=pass_id, device_id=device_id,
                                            push_token=push_token, created_at=now))
        await self.session.flush()
        return True

    async def unregister(self, pass_id: int, device_id: str) -> None:
        await self.session.execute(delete(WalletRegistration).where(
            WalletRegistration.pass_id == pass_id, WalletRegistration.device_id == device_id))

    async def updated_for_device(self, device_id: str, since: datetime | None = None
                                 ) -> list[tuple[str, datetime]]:
        """(serial, updated_at) of the passes the device holds, changed after ``since``."""
        stmt = (select(WalletPass.serial, WalletPass.updated_at)
                .join(WalletRegistration, WalletRegistration.pass_id == WalletPass.id)
                .where(WalletRegistration.device_id == device_id))
        if since is not None:
            stmt = stmt.where(WalletPass.updated_at > since)
        return [(serial, at) for serial, at in (await self.session.execute(stmt)).all()]

    async def push_tokens(self, pass_id: int) -> list[str]:
        return list((await self.session.execute(
            select(WalletRegistration.push_token).where(WalletRegistration.pass_id == pass_id)
            .distinct())).scalars())

    async def forget_push_token(self, push_token: str) -> None:
        """Apple says the token is no longer valid (the pass was removed from the device)."""
        await self.session.execute(delete(WalletRegistration).where(
            WalletRegistration.push_token == push_token))

    @staticmethod
    def touch(wallet_pass: WalletPass, now: datetime) -> None:
        """The card changed now: ``updated_at`` moves to now, and at least into the next
        whole second (Last-Modified has whole seconds: a device that fetched the card earlier
        in the same second must see this change as newer)."""
        wallet_pass.updated_at = max(now, changed_after(wallet_pass.updated_at))

    async def mark_google_saved(self, pass_id: int) -> None:
        await self.session.execute(
            update(WalletPass).where(WalletPass.id == pass_id).values(google_saved=True))

    async def not_updated_since(self, moment: datetime, limit: int) -> Sequence[int]:
        """Customers whose wallet card has not changed since ``moment`` (to renew its barcode)."""
        return (await self.session.execute(
            select(WalletPass.customer_id).where(WalletPass.updated_at < moment)
            .order_by(WalletPass.updated_at).limit(limit))).scalars().all()

    async def with_points_freed(self, now: datetime, limit: int) -> Sequence[int]:
        """Customers with held points that became spendable after their wallet card last
        changed (``purchase_points_hold_days``: the balance grows with no write at all)."""
        freed = exists().where(PointLot.customer_id == WalletPass.customer_id, PointLot.remaining > 0,
                               PointLot.available_at > WalletPass.updated_at,
                               PointLot.available_at <= now)
        return (await self.session.execute(
            select(WalletPass.customer_id).where(freed)
            .order_by(WalletPass.updated_at).limit(limit))).scalars().all()

    async def older_than_their_rules(self, limit: int) -> Sequence[int]:
        """Customers whose wallet card was written before the owner last changed a rule the
        card shows (``SHOWN_RULES``, changed in /settings)."""
        changed = exists().where(SettingValue.path.in_(SHOWN_RULES),
                                 SettingValue.updated_at > WalletPass.updated_at)
        return (await self.session.execute(
            select(WalletPass.customer_id).where(changed)
            .order_by(WalletPass.updated_at).limit(limit))).scalars().all()

    async def queue_updates(self, changed: Mapping[int, datetime]) -> int:
        """An update in the outbox for each of these customers who has a wallet card and no
        update waiting yet (one update brings the card to what it is when it is sent), due
        at the moment of their change. Returns how many were queued."""
        ids = sorted(changed)
        queued = 0
        for first in range(0, len(ids), IN_CHUNK):
            chunk = ids[first:first + IN_CHUNK]
            holders = set((await self.session.execute(
                select(WalletPass.customer_id).where(WalletPass.customer_id.in_(chunk)))).scalars())
            if not holders:
                continue
            waiting = set((await self.session.execute(
                select(OutboxMessage.external_id).where(
                    OutboxMessage.channel == WALLET_CHANNEL, OutboxMessage.status == "pending",
                    OutboxMessage.external_id.in_([str(c) for c in holders])))).scalars())
            for customer_id in sorted(holders):
                if str(customer_id) in waiting:
                    continue
                self.session.add(OutboxMessage(
                    channel=WALLET_CHANNEL, external_id=str(customer_id), identity_id=None,
                    category="service", payload=[], status="pending", attempts=0,
                    not_before=changed[customer_id], created_at=changed[customer_id]))
                queued += 1
        return queued
