"""The rules in force: the config file's, with the owner's changes made in the chat
(/settings) and kept in the database applied over them. Two kinds of change:

- a program rule by its path in the config (``SettingValue``: bonuses and their lifetimes,
  tiers, max discount, the rewards catalog, holidays, quiet hours, the marketing cap, the
  holdout share), validated like the config file and audited with the value before and after;
- a trigger switched on or off and the shop's own text per language (``TriggerOverride``).

Every event, POS request, trigger pass and broadcast reads the rules through
``effective_settings`` in its own transaction, so a change applies from the next operation
on, in every process, without a restart; the config file itself is never written.

Nothing here commits: the caller's unit of work does, with the audit entry."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from bot.config import (
    PLACEHOLDERS,
    ProgramSettings,
    Settings,
    Trigger,
    TriggersSettings,
    _unknown_placeholders,
)
from bot.console import audit
from bot.core.lru import LruCache
from bot.storage.models import TriggerOverride
from bot.storage.repositories.rule_changes import Override
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

#: The triggers, in the order the README's table (and the owner's view) lists them.
TRIGGERS: tuple[str, ...] = tuple(
    name for name, field in TriggersSettings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Trigger))
MAX_TEXT = 1000  # characters of an own text

#: The program rules the owner may change in the chat, by their path in the config.
PROGRAM_PATHS = tuple(f"program.{name}" for name in (
    "welcome_bonus", "welcome_bonus_days", "profile_bonus", "profile_bonus_days",
    "review_bonus", "review_bonus_days", "referral_bonus", "referral_bonus_days",
    "purchase_points_days", "max_discount_percent", "tiers", "rewards"))
TRIGGER_PATHS = ("triggers.quiet_start", "triggers.quiet_end", "triggers.daily_marketing_cap",
                 "triggers.holdout_percent", "triggers.holidays.dates")
EDITABLE = PROGRAM_PATHS + TRIGGER_PATHS


class BadValue(ValueError):
    """A rule the config's validation refuses; ``reason`` is the first error, for people."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


class BadText(ValueError):
    """An own text that can't be used: an unknown placeholder (``unknown`` names them), a
    stray brace, a format the message can't be filled in with."""

    def __init__(self, reason: str, unknown: Iterable[str] = ()) -> None:
        super().__init__(reason)
        self.unknown = list(unknown)


def allowed_placeholders(trigger: str) -> list[str]:
    field = TriggersSettings.model_fields.get(trigger)
    section = field.annotation if field is not None else None
    extras = section.placeholders if isinstance(section, type) and issubclass(section, Trigger) else set()
    return sorted(PLACEHOLDERS | extras)


def check_text(trigger: str, text: str) -> None:
    """Raise BadText unless the text fills in with the trigger's placeholders."""
    allowed = allowed_placeholders(trigger)
    try:
        unknown = _unknown_placeholders(text, set(allowed))
    except ValueError as error:
        raise BadText(str(error)) from None
    if unknown:
        raise BadText("unknown placeholder(s): " + ", ".join("{" + u + "}" for u in unknown),
                      unknown)
    try:  # "{points:d}" names a known placeholder but does not fill in with text
        text.format(**dict.fromkeys(allowed, "x"))
    except (ValueError, KeyError, IndexError, AttributeError) as error:
        raise BadText(str(error)) from None


async def overrides(uow: UnitOfWork) -> dict[str, TriggerOverride]:
    return {row.trigger: row for row in await uow.rule_changes.overrides()}


def apply(triggers: TriggersSettings, rows: Iterable[TriggerOverride | Override]) -> TriggersSettings:
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


def with_value(settings: Settings, path: str, value: Any) -> Settings:
    """``settings`` with one rule changed, validated as the config file would be; raises
    BadValue with the first reason otherwise."""
    if path not in EDITABLE:
        raise BadValue(path, "not a rule that can be changed in the chat")
    section, _, rest = path.partition(".")
    try:
        if section == "program":
            program = ProgramSettings.model_validate({**settings.program.model_dump(), rest: value})
            return settings.model_copy(update={"program": program})
        triggers = settings.triggers.model_dump()
        if rest == "holidays.dates":
            triggers["holidays"] = {**triggers["holidays"], "dates": value}
        else:
            triggers[rest] = value
        return settings.model_copy(update={"triggers": TriggersSettings.model_validate(triggers)})
    except ValidationError as error:
        first = error.errors()[0]
        raise BadValue(path, str(first.get("msg", error))) from None


def apply_values(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """``settings`` with the stored rules applied, in path order; a stored value the config
    no longer accepts (the file changed since) is skipped and logged, so one stale row can't
    stop the shop."""
    for path in sorted(values):
        try:
            settings = with_value(settings, path, values[path])
        except BadValue as error:
            log.warning("the rule %s set in the chat is skipped: %s", path, error.reason)
    return settings


async def values(uow: UnitOfWork) -> dict[str, Any]:
    return {row.path: row.value for row in await uow.rule_changes.values()}


# (the config object, the changes) -> the rules in force; the config is kept in the entry, so
# its id can't be reused by another while the entry lives
_IN_FORCE: LruCache[tuple[int, str], tuple[Settings, Settings]] = LruCache(8)


async def effective_settings(uow: UnitOfWork, settings: Settings) -> Settings:
    """The rules in force: ``settings`` (the config) with every change made in the chat.
    Read in the caller's transaction; the result is reused while nothing changes."""
    changed, triggers = await uow.rule_changes.in_force()
    if not changed and not triggers:
        return settings
    key = (id(settings), json.dumps([changed, [(r.trigger, r.enabled, r.texts) for r in triggers]],
                                    sort_keys=True, default=str))
    cached = _IN_FORCE.get(key)
    if cached is None or cached[0] is not settings:
        in_force = apply_values(settings, changed)
        in_force = in_force.model_copy(update={"triggers": apply(in_force.triggers, triggers)})
        cached = (settings, in_force)
        _IN_FORCE.put(key, cached)
    return cached[1]


async def effective_triggers(uow: UnitOfWork, settings: Settings) -> TriggersSettings:
    """The triggers in force: the config with the owner's changes applied."""
    return (await effective_settings(uow, settings)).triggers


def value_at(settings: Settings, path: str) -> Any:
    """A rule's value as JSON would keep it (lists of dicts, times as "HH:MM")."""
    node: Any = settings.model_dump(mode="json")
    for part in path.split("."):
        node = node[part]
    return node


async def set_value(uow: UnitOfWork, base: Settings, path: str, value: Any, *,
                    actor: int | None, at: datetime) -> Settings:
    """Change one rule: validated over the rules in force, stored, audited with the value
    before and after. Returns the rules in force from now on; raises BadValue."""
    current = await effective_settings(uow, base)
    changed = with_value(current, path, value)
    stored = value_at(changed, path)  # normalized: what the config would hold
    before = value_at(current, path)
    row = await uow.rule_changes.value(path)
    row.value, row.updated_at, row.updated_by = stored, at, actor
    await uow.flush()
    await audit.record(uow, actor, "settings", at=at, path=path, before=before, after=stored)
    return changed


async def _row(uow: UnitOfWork, trigger: str) -> TriggerOverride:
    if trigger not in TRIGGERS:
        raise ValueError(f"no trigger {trigger!r}")
    return await uow.rule_changes.override(trigger)


async def set_enabled(uow: UnitOfWork, trigger: str, enabled: bool, *, actor: int | None,
                      at: datetime) -> None:
    row = await _row(uow, trigger)
    row.enabled, row.updated_at, row.updated_by = enabled, at, actor
    await uow.flush()


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
    await uow.flush()
