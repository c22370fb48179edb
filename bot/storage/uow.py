"""The unit of work: one session per inbound event or job; commit in one place."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.day_book import DayBook
from bot.storage.repositories import (
    AuditLog,
    Broadcasts,
    ChannelNotes,
    Conversations,
    Customers,
    Identities,
    Lots,
    OutboxMessages,
    Outlets,
    PaceRows,
    PlatformIds,
    ProcessedEvents,
    PublishedPictures,
    Purchases,
    Recipients,
    Reviews,
    Roster,
    RuleChanges,
    Secrets,
    SharedPhones,
    StaffMembers,
    TriggerSends,
    WalletPasses,
    WebDownloads,
    WebMessages,
)
from bot.storage.session import BOOK, WALLET, WALLET_CHANGED


class UnitOfWork:
    """``async with uow: ...; await uow.commit()``; anything not committed is rolled back."""

    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Where this unit of work's session came from, for work that needs several
        transactions of its own (an export page by page)."""
        return self._sessions

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        self.book = DayBook(self.session, lock=lambda customer_id: self.customers.hold(customer_id))
        self.session.info[BOOK] = self.book  # the session tells it every counted write
        self.processed_events = ProcessedEvents(self.session)
        self.identities = Identities(self.session)
        self.customers = Customers(self.session, self.book)
        self.conversations = Conversations(self.session)
        self.lots = Lots(self.session)
        self.purchases = Purchases(self.session)
        self.outlets = Outlets(self.session)
        self.staff = StaffMembers(self.session)
        self.secrets = Secrets(self.session)
        self.shared_phones = SharedPhones(self.session)
        self.reviews = Reviews(self.session)
        self.roster = Roster(self.session)
        self.broadcasts = Broadcasts(self.session)
        self.audit_log = AuditLog(self.session)
        self.web_messages = WebMessages(self.session)
        self.web_downloads = WebDownloads(self.session)
        self.outbox_messages = OutboxMessages(self.session)
        self.pace = PaceRows(self.session)  # PostgreSQL only (bot/delivery/pace.py)
        self.platform_ids = PlatformIds(self.session)
        self.channel_notes = ChannelNotes(self.session)
        self.published_pictures = PublishedPictures(self.session)
        self.rule_changes = RuleChanges(self.session)
        self.recipients = Recipients(self.session)
        self.trigger_sends = TriggerSends(self.session)
        self.wallet_passes = WalletPasses(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.session.close()  # rolls back whatever was not committed

    async def flush(self) -> None:
        """Write what is pending now, so that a broken constraint fails here, not at the commit."""
        await self.session.flush()

    def forget_loaded(self) -> None:
        """Let go of every row loaded so far (a long job, between its committed batches)."""
        self.session.expunge_all()

    async def commit(self) -> None:
        if self.session.info.get(WALLET):
            await self.session.flush()  # the last points changes are noted now
            await self.wallet_passes.queue_updates(self.session.info.pop(WALLET_CHANGED, {}))
        await self.book.flush()  # last: its rows are locked after everything else
        await self.session.commit()
