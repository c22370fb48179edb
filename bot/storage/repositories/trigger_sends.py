"""What the trigger pass recorded: one row per customer, trigger and episode (sent or held
out). (Which customers already have one: the candidate queries, bot/marketing/triggers/.)"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import TriggerSend


class TriggerSends:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, send: TriggerSend) -> None:
        """Record the send (written at the next flush or the commit)."""
        self.session.add(send)
