"""The wallet card follows the chat's: when a customer's points or tier change, the commit
queues an outbox row on the ``wallet`` channel for them (bot/storage/session.py notes every
points operation, purchase and refund; ``WalletPasses.queue_updates`` writes one row per
customer with a wallet card, none while one is waiting). The outbox sender delivers it here
within seconds, with its retries, backoff and crash recovery:

1. the card's ``updated_at`` moves to now (committed first, so a device that asks after the
   push sees the change);
2. Apple: a push to every device registered for the pass; a device then fetches the
   changed pass from the web service (apple_service.py); a token Apple calls gone is forgotten;
3. Google: the loyalty object is patched with the card as it is now.

A failure raises, and the outbox tries again later (after 5 attempts the row is failed); APNs
asking to slow down or being unavailable is a wait that is not an attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.channels.base import Channel, RetryLater
from bot.core.context import ChannelInfo
from bot.core.conversation import Core
from bot.core.replies import Reply, Text
from bot.storage.repositories.wallet_passes import ERASED, WALLET_CHANNEL
from bot.wallet.apple_push import Pushed
from bot.wallet.face import read_face
from bot.wallet.setup import Wallet

APNS_PAUSE = 30.0  # seconds before the next try when APNs asks to slow down
RENEW_BATCH = 500


class ApplePushRefused(RuntimeError):
    """APNs refused a push for a reason waiting won't mend (logged by apple_push.py)."""


class WalletUpdates(Channel):
    """The outbox's ``wallet`` channel: a message's recipient is the customer id."""

    name = WALLET_CHANNEL

    def __init__(self, wallet: Wallet) -> None:
        self.wallet = wallet

    def info(self) -> ChannelInfo:
        return ChannelInfo(WALLET_CHANNEL, verified_contacts=False, deep_link=lambda payload: payload)

    def cost(self, replies: Sequence[Reply]) -> int:
        return 1

    async def send_text(self, recipient: str, reply: Text) -> None:
        raise NotImplementedError("the wallet channel only updates cards")

    async def deliver(self, recipient: str, replies: Sequence[Reply],
                      message_id: int | None = None) -> None:
        if recipient.startswith(ERASED):
            if self.wallet.google is not None:
                await self.wallet.google.forget(recipient.removeprefix(ERASED))
            return
        services = self.wallet.services
        async with self.wallet.unit_of_work() as uow:
            wallet_pass = await uow.wallet_passes.of_customer(int(recipient))
            if wallet_pass is None:
                return  # the customer left since
            uow.wallet_passes.touch(wallet_pass, services.clock.now())
            tokens = await uow.wallet_passes.push_tokens(wallet_pass.id) if self.wallet.push else []
            face = None
            if self.wallet.google is not None and wallet_pass.google_saved:
                face = await read_face(uow, services, wallet_pass,
                                       self.wallet.deep_link(wallet_pass.channel))
            await uow.commit()
        try:
            await self._push(tokens)
        finally:  # a busy or refusing Apple does not hold back the Google card
            if face is not None and self.wallet.google is not None:
                await self.wallet.google.update(face)

    async def _push(self, tokens: list[str]) -> None:
        push = self.wallet.push
        if push is None:
            return
        results = {token: await push.push(token) for token in tokens}
        gone = [token for token, result in results.items() if result is Pushed.GONE]
        if gone:
            async with self.wallet.unit_of_work() as uow:
                for token in gone:
                    await uow.wallet_passes.forget_push_token(token)
                await uow.commit()
        if Pushed.LATER in results.values():
            raise RetryLater(APNS_PAUSE)
        if Pushed.REFUSED in results.values():
            raise ApplePushRefused("APNs refused the push; the outbox tries again, then gives up")


async def renew_old_cards(core: Core) -> int:
    """Queue an update of every wallet card unchanged for a third of ``barcode_days``, so
    that the barcode on it is always a fresh one (a card nobody uses would otherwise outlive
    its barcode: the update carries a new one), of every card whose held purchase points
    became spendable since it changed, and of every card written before the owner changed
    the tiers (no points write tells of those). Hourly, the oldest ``RENEW_BATCH`` of each
    at a time. Returns how many were queued."""
    services = core.services
    now = services.clock.now()
    before = now - timedelta(days=services.settings.wallet.barcode_days / 3)
    async with core.unit_of_work() as uow:
        customers = [*await uow.wallet_passes.not_updated_since(before, RENEW_BATCH),
                     *await uow.wallet_passes.with_points_freed(now, RENEW_BATCH),
                     *await uow.wallet_passes.older_than_their_rules(RENEW_BATCH)]
        queued = await uow.wallet_passes.queue_updates(dict.fromkeys(customers, now))
        await uow.commit()
    return queued
