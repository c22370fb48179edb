"""The program rules and triggers the owner changed in the chat (/settings), stored over the
config file's. (Validating and applying them: bot/loyalty/program_settings.py.)"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import SettingValue, TriggerOverride


class RuleChanges:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def values(self) -> Sequence[SettingValue]:
        return (await self.session.execute(select(SettingValue))).scalars().all()

    async def value(self, path: str) -> SettingValue:
        """The rule's stored value, added (empty) when it was never changed."""
        row = await self.session.get(SettingValue, path)
        if row is None:
            row = SettingValue(path=path)
            self.session.add(row)
        return row

    async def overrides(self) -> Sequence[TriggerOverride]:
        return (await self.session.execute(select(TriggerOverride))).scalars().all()

    async def override(self, trigger: str) -> TriggerOverride:
        """The trigger's stored changes, added (none yet) when it was never changed."""
        row = await self.session.get(TriggerOverride, trigger)
        if row is None:
            row = TriggerOverride(trigger=trigger, enabled=None, texts={})
            self.session.add(row)
        return row
