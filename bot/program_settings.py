"""The owner's changes to the triggers, made in the chat (/settings) and kept in the
database: a trigger switched on or off, and the shop's own text per language. They are
applied over the config whenever a trigger pass starts, so a change takes effect at the
next pass without a restart; the config file itself is never written.

Repositories never commit: the caller's unit of work does, with the audit entry."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from bot.config import (
    EXTRA_PLACEHOLDERS,
    PLACEHOLDERS,
    Settings,
    Trigger,
    TriggersSettings,
    _unknown_placeholders,
)
from bot.storage.models import TriggerOverride
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

#: The triggers, in the order the README's table (and the owner's view) lists them.
TRIGGERS: tuple[str, ...] = tuple(
    name for name, field in TriggersSettings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Trigger))
MAX_TEXT = 1000  # characters of an own text


class BadText(ValueError):
    """An own text that can't be used: an unknown placeholder, a stray brace, a format the
    message can't be filled in with."""


def allowed_placeholders(trigger: str) -> list[str]:
    return sorted(PLACEHOLDERS | EXTRA_PLACEHOLDERS.get(trigger, set()))


def check_text(trigger: str, text: str) -> None:
    """Raise BadText unless the text fills in with the trigger's placeholders."""
    allowed = allowed_placeholders(trigger)
    try:
        unknown = _unknown_placeholders(text, set(allowed))
    except ValueError as error:
        raise BadText(str(error)) from None
    if unknown:
        raise BadText("unknown placeholder(s): " + ", ".join("{" + u + "}" for u in unknown))
    try:  # "{points:d}" names a known placeholder but does not fill in with text
        text.format(**{name: "x" for name in allowed})
    except (ValueError, KeyError, IndexError, AttributeError) as error:
        raise BadText(str(error)) from None


async def overrides(uow: UnitOfWork) -> dict[str, TriggerOverride]:
    rows = (await uow.session.execute(select(TriggerOverride))).scalars().all()
    return {row.trigger: row for row in rows}


def apply(triggers: TriggersSettings, rows: Iterable[TriggerOverride]) -> TriggersSettings:
    """A copy of ``triggers`` with the overrides applied; a stored text that no longer
    passes the placeholder check is skipped (logged), so one bad row can't stop a pass."""
    update: dict[str, Trigger] = {}
    for row in rows:
        config = getattr(triggers, row.trigger, None)
        if not isinstance(config, Trigger):
            continue
        changes: dict[str, object] = {}
        if row.enabled is not None:
            changes["enabled"] = row.enabled
        texts = {}
        for locale, text in (row.texts or {}).items():
            if not text:
                continue
            try:
                check_text(row.trigger, text)
            except BadText as error:
                log.warning("trigger %s: the stored %s text is skipped: %s", row.trigger, locale, error)
                continue
            texts[locale] = text
        if texts:
            changes["text"] = {**config.text, **texts}
        if changes:
            update[row.trigger] = config.model_copy(update=changes)
    return triggers.model_copy(update=update)


async def effective_triggers(uow: UnitOfWork, settings: Settings) -> TriggersSettings:
    """The triggers in force: the config with the owner's changes applied."""
    return apply(settings.triggers, (await overrides(uow)).values())


async def effective_settings(uow: UnitOfWork, settings: Settings) -> Settings:
    """``settings`` with the triggers in force (the rest as configured)."""
    return settings.model_copy(update={"triggers": await effective_triggers(uow, settings)})


async def _row(uow: UnitOfWork, trigger: str) -> TriggerOverride:
    if trigger not in TRIGGERS:
        raise ValueError(f"no trigger {trigger!r}")
    row = await uow.session.get(TriggerOverride, trigger)
    if row is None:
        row = TriggerOverride(trigger=trigger, enabled=None, texts={})
        uow.session.add(row)
    return row


async def set_enabled(uow: UnitOfWork, trigger: str, enabled: bool, *, actor: int | None,
                      at: datetime) -> None:
    row = await _row(uow, trigger)
    row.enabled, row.updated_at, row.updated_by = enabled, at, actor
    await uow.session.flush()


async def set_text(uow: UnitOfWork, trigger: str, locale: str, text: str, *, actor: int | None,
                   at: datetime) -> None:
    """The shop's own text for one language; an empty text removes it (back to the
    config's text, or the built-in one). Raises BadText for a text that can't be used."""
    if text:
        check_text(trigger, text)
    row = await _row(uow, trigger)
    texts = {k: v for k, v in (row.texts or {}).items() if k != locale}
    if text:
        texts[locale] = text
    row.texts, row.updated_at, row.updated_by = texts, at, actor  # a new dict: JSON is not tracked
    await uow.session.flush()
