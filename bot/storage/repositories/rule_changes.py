"""The program rules and triggers the owner changed in the chat (/settings), stored over the
config file's. (Validating and applying them: bot/loyalty/program_settings.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import JSON, Boolean, literal, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import SettingValue, TriggerOverride


class Override(NamedTuple):
    """A trigger's stored changes as read (``TriggerOverride``'s columns that apply)."""

    trigger: str
    enabled: bool | None
    texts: dict[str, Any] | None


# Every stored change in one statement (each event and POS request reads them): a rule's
# row is ("rule", path, value, NULL, NULL), a trigger's ("trigger", name, NULL, enabled, texts).
_IN_FORCE = select(literal("rule").label("kind"), SettingValue.path.label("name"),
                   SettingValue.value.label("value"), null().cast(Boolean).label("enabled"),
                   null().cast(JSON).label("texts")).union_all(
    select(literal("trigger"), TriggerOverride.trigger, null().cast(JSON),
           TriggerOverride.enabled, TriggerOverride.texts))


class RuleChanges:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def in_force(self) -> tuple[dict[str, Any], list[Override]]:
        """The stored rules by path and the triggers' stored changes, read at once."""
        values: dict[str, Any] = {}
        overrides: list[Override] = []
        for kind, name, value, enabled, texts in await self.session.execute(_IN_FORCE):
            if kind == "rule":
                values[name] = value
            else:
                overrides.append(Override(name, enabled, texts))
        return values, overrides

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
