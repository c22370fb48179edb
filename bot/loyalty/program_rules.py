"""The program's rules as the owner edits them in the chat: which values there are, how a
typed value is read and checked, what a change does to the whole rule it belongs to, and the
summary a preview compares before and after. The chat flow is bot/handlers/program_rules.py;
storing and auditing is bot.loyalty.program_settings.set_value.

A value is named by a key relative to the settings: ``welcome_bonus``,
``tiers.<code>.cashback_percent``, ``rewards.<code>.points``, ``triggers.quiet_start``,
``triggers.holidays.dates.<MM-DD>``. Items of a list are named by their code (a holiday by its
date), never by position, so a screen left open while someone else edits acts on the same
item or on none.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any, SupportsInt, cast

from annotated_types import Ge, Le
from pydantic import BaseModel

from bot.config import Holiday, ProgramSettings, Reward, Settings, Tier, TriggersSettings
from bot.core.i18n import N_, Translator
from bot.core.text import whole_number
from bot.loyalty.program_settings import EDITABLE, value_at
from bot.loyalty.tiers import tier_label

LISTS: dict[str, tuple[str, type[BaseModel]]] = {
    "program.tiers": ("code", Tier), "program.rewards": ("code", Reward),
    "triggers.holidays.dates": ("date", Holiday)}
TIMES = ("quiet_start", "quiet_end")
NAME_LENGTH = {"tiers": 32, "rewards": 64, "dates": 64}

#: What each value is called where the owner reads it.
LABELS = {
    "welcome_bonus": N_("Welcome bonus, points"),
    "welcome_bonus_days": N_("Welcome points live, days"),
    "profile_bonus": N_("Profile bonus, points"),
    "profile_bonus_days": N_("Profile points live, days"),
    "review_bonus": N_("Review bonus, points"),
    "review_bonus_days": N_("Review points live, days"),
    "referral_bonus": N_("Referral bonus to each side, points"),
    "referral_bonus_days": N_("Referral points live, days"),
    "purchase_points_days": N_("Purchase points live, days"),
    "max_discount_percent": N_("Points pay at most, percent of a purchase"),
    "name": N_("Title"),
    "min_purchases": N_("From purchase number"),
    "min_spend": N_("From total spend"),
    "cashback_percent": N_("Cashback, %"),
    "spend_share_percent": N_("Share of the max discount, %"),
    "points": N_("Price, points"),
    "quiet_start": N_("Quiet hours start (HH:MM)"),
    "quiet_end": N_("Quiet hours end (HH:MM)"),
    "daily_marketing_cap": N_("Automatic messages a customer a day, at most"),
    "holdout_percent": N_("Holdout, percent of the eligible"),
    "date": N_("Date (DD.MM)"),
}


class Refused(ValueError):
    """A typed value the rules don't take; ``message`` is for people (to translate) and
    ``values`` fill it in."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message)
        self.message, self.values = message, values


@dataclass(frozen=True, slots=True)
class Key:
    text: str  # as buttons carry it: "tiers.gold.cashback_percent"
    path: str  # the rule as stored: one of bot.loyalty.program_settings.EDITABLE
    item: str | None  # a list's item by its code (a holiday by its date)
    field: str  # the value within (the rule's own name for a plain value)


def parse_key(text: str) -> Key | None:
    """``tiers.gold.cashback_percent`` → Key; None for anything else."""
    full = text if text.startswith("triggers.") else f"program.{text}"
    for path in LISTS:
        if full.startswith(path + "."):
            item, _, field = full[len(path) + 1:].partition(".")
            return Key(text, path, item, field) if item else None
    if full in EDITABLE and full not in LISTS:
        return Key(text, full, None, full.rpartition(".")[2])
    return None


def model_of(key: Key) -> type[BaseModel]:
    if key.path in LISTS:
        return LISTS[key.path][1]
    return TriggersSettings if key.path.startswith("triggers.") else ProgramSettings


def bounds(key: Key) -> tuple[int, int | None]:
    """The smallest and largest whole number the config accepts for this value."""
    low, high = 0, None
    for rule in model_of(key).model_fields[key.field].metadata:
        if isinstance(rule, Ge):
            low = int(cast(SupportsInt, rule.ge))  # annotated-types types a bound as comparable only
        elif isinstance(rule, Le):
            high = int(cast(SupportsInt, rule.le))
    return low, high


def read_value(key: Key, typed: str) -> Any:
    """The typed text as the value's JSON; raises Refused."""
    typed = typed.strip()
    if key.field in TIMES:
        return _time(typed)
    if key.field == "date":
        return _month_day(typed)
    if key.field == "name":
        longest = NAME_LENGTH[key.path.rpartition(".")[2]]
        if not 1 <= len(typed) <= longest:
            raise Refused(N_("Please send a name of 1 to {max} characters."), max=longest)
        return typed
    number = whole_number(typed.replace(" ", "").replace("\u00a0", ""))
    low, high = bounds(key)
    if number is None or number < low or (high is not None and number > high):
        if high is None:
            raise Refused(N_("Please send a whole number, {min} or more."), min=low)
        raise Refused(N_("Please send a whole number from {min} to {max}."), min=low, max=high)
    return number


def _time(typed: str) -> str:
    match = re.fullmatch(r"(\d{1,2})(?:[:.](\d{2}))?", typed)
    try:
        moment = time(int(match[1]), int(match[2] or 0)) if match else None
    except ValueError:
        moment = None
    if moment is None:
        raise Refused(N_("Please send a time like 21:00."))
    return moment.strftime("%H:%M")


def _month_day(typed: str) -> str:
    try:
        day = datetime.strptime(f"{typed.strip()}.2000", "%d.%m.%Y")  # a leap year: 29.02 too
    except ValueError:
        raise Refused(N_("Please send a date like 08.03 (day and month).")) from None
    return day.strftime("%m-%d")


def changed_rule(settings: Settings, key: Key, value: Any) -> Any:
    """The whole stored rule ``key.path`` with this one value changed (a list item added
    when it is new); raises Refused for a list item that is gone."""
    whole = copy.deepcopy(value_at(settings, key.path))
    if key.path not in LISTS:
        return value
    by = LISTS[key.path][0]
    item = next((entry for entry in whole if str(entry[by]) == key.item), None)
    if item is None:
        raise Refused(N_("This item is no longer in the program; nothing was changed."))
    item[key.field] = value
    return whole


def without_item(settings: Settings, key: Key) -> list[dict[str, Any]]:
    by = LISTS[key.path][0]
    whole = value_at(settings, key.path)
    left = [entry for entry in whole if str(entry[by]) != key.item]
    if len(left) == len(whole):
        raise Refused(N_("This item is no longer in the program; nothing was changed."))
    return left


def with_item(settings: Settings, path: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    by = LISTS[path][0]
    whole = value_at(settings, path)
    if any(entry[by] == item[by] for entry in whole):
        raise Refused(N_("The program already has this one; nothing was changed."))
    return [*whole, item]


# --- what the owner reads ------------------------------------------------------------------

def label(t: Translator, settings: Settings, key: Key) -> str:
    """«Gold: cashback, %», «Welcome bonus, points»."""
    _ = t.gettext
    field = key.field
    if field == "min_purchases" and settings.program.tier_basis == "spend":
        field = "min_spend"
    text = _(LABELS.get(field, field))
    owner = item_name(t, settings, key)
    return _("{item}: {value}").format(item=owner, value=text) if owner else text


def item_name(t: Translator, settings: Settings, key: Key) -> str | None:
    if key.item is None:
        return None
    if key.path == "program.tiers":
        tier = next((x for x in settings.program.tiers if x.code == key.item), None)
        return tier_label(tier, t.gettext) if tier else key.item
    if key.path == "program.rewards":
        reward = next((x for x in settings.program.rewards if x.code == key.item), None)
        return t.gettext(reward.name) if reward else key.item
    return shown_date(key.item)


def shown_date(month_day: str) -> str:
    month, _, day = month_day.partition("-")
    return f"{day}.{month}"


def shown_value(t: Translator, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return t.number(value)


def summary(t: Translator, settings: Settings) -> list[str]:
    """Every rule the owner can change, one line each: a preview shows the lines a change
    alters, before and after."""
    return [line for lines in sections(t, settings).values() for line in lines]


def sections(t: Translator, settings: Settings) -> dict[str, list[str]]:
    """The summary's lines by the /settings section that changes them."""
    _, program, triggers = t.gettext, settings.program, settings.triggers

    def days(n: int) -> str:
        return t.ngettext("{n} day", "{n} days", n).format(n=n)

    bonuses = [_("• Welcome bonus: {points}, lives {days}").format(
                 points=t.points(program.welcome_bonus), days=days(program.welcome_bonus_days)),
             _("• Profile bonus: {points}, lives {days}").format(
                 points=t.points(program.profile_bonus), days=days(program.profile_bonus_days)),
             _("• Review bonus: {points}, lives {days}").format(
                 points=t.points(program.review_bonus), days=days(program.review_bonus_days)),
             _("• Referral bonus to each side: {points}, lives {days}").format(
                 points=t.points(program.referral_bonus), days=days(program.referral_bonus_days)),
             _("• Purchase points live {days}").format(days=days(program.purchase_points_days)),
             _("• Points pay at most {percent} of a purchase").format(
                 percent=t.percent(program.max_discount_percent))]
    messages = [
        _("• Quiet hours: {start}–{end}").format(start=triggers.quiet_start.strftime("%H:%M"),
                                                 end=triggers.quiet_end.strftime("%H:%M")),
        t.ngettext("• At most {n} automatic message a customer a day",
                   "• At most {n} automatic messages a customer a day",
                   triggers.daily_marketing_cap).format(n=triggers.daily_marketing_cap),
        _("• Holdout: {percent} of the eligible get nothing, to measure the effect").format(
            percent=t.percent(triggers.holdout_percent))]
    return {
        "bonuses": bonuses,
        "tiers": [tier_line(t, settings, tier) for tier in program.tiers],
        "rewards": [_("• Reward «{name}»: {points}").format(name=_(reward.name),
                                                           points=t.points(reward.points))
                    for reward in program.rewards],
        "holidays": [_("• Holiday {date}: {name}").format(date=shown_date(h.date), name=_(h.name))
                     for h in triggers.holidays.dates],
        "messages": messages,
    }


def tier_line(t: Translator, settings: Settings, tier: Tier) -> str:
    program = settings.program
    share = Decimal(program.max_discount_percent * tier.spend_share_percent) / 100
    start = (t.gettext("from purchase {n}").format(n=tier.min_purchases)
             if program.tier_basis == "purchases" else
        t.gettext("from {amount} spent").format(amount=t.number(tier.min_spend)))
    return t.gettext("• Tier {tier} {start}: cashback {cashback}, points pay up to {share} of "
                     "a purchase").format(tier=tier_label(tier, t.gettext), start=start,
                                          cashback=t.percent(tier.cashback_percent),
                                          share=t.percent(share.normalize()))
