"""Tiers: by purchase count (default) or by total spend, as the program says."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bot.config import ProgramSettings, Tier
from bot.core.i18n import N_
from bot.loyalty.money import MINOR_PER_UNIT

# The default tier names (and "Member", before the first purchase), for the catalogs.
DEFAULT_TIER_NAMES = (N_("Member"), N_("Silver"), N_("Gold"), N_("Platinum"))


def _threshold(tier: Tier, program: ProgramSettings) -> int:
    return tier.min_spend if program.tier_basis == "spend" else tier.min_purchases


def by_threshold(program: ProgramSettings) -> list[Tier]:
    """The tiers from the first one reached to the highest."""
    return sorted(program.tiers, key=lambda tier: _threshold(tier, program))


def threshold(tier: Tier, program: ProgramSettings) -> int:
    """What reaches ``tier``: purchases, or currency units of spend."""
    return _threshold(tier, program)


def reached_by_first_purchase(tier: Tier, program: ProgramSettings) -> bool:
    """Any first purchase reaches it (a purchase counts at the tier it reaches)."""
    return _threshold(tier, program) <= (0 if program.tier_basis == "spend" else 1)


def points_share(tier: Tier, program: ProgramSettings) -> Decimal:
    """The percent of a purchase this tier may pay with points: the program's max discount
    × the tier's share of it (15 % × 25 % = 3.75 %)."""
    return Decimal(program.max_discount_percent * tier.spend_share_percent) / 100


def _progress(purchases: int, spent_minor: int, program: ProgramSettings) -> int:
    return spent_minor // MINOR_PER_UNIT if program.tier_basis == "spend" else purchases


def _reached(tier: Tier, purchases: int, spent_minor: int, program: ProgramSettings) -> bool:
    return purchases > 0 and _progress(purchases, spent_minor, program) >= _threshold(tier, program)


def current_tier(purchases: int, program: ProgramSettings, spent_minor: int = 0) -> Tier | None:
    reached = [t for t in program.tiers if _reached(t, purchases, spent_minor, program)]
    return max(reached, key=lambda tier: _threshold(tier, program), default=None)


def next_tier(purchases: int, program: ProgramSettings, spent_minor: int = 0) -> tuple[Tier, int] | None:
    """The next tier and what is left to reach it: purchases, or currency units of spend."""
    ahead = [t for t in program.tiers if not _reached(t, purchases, spent_minor, program)]
    upcoming = min(ahead, key=lambda tier: _threshold(tier, program), default=None)
    if upcoming is None:
        return None
    left = _threshold(upcoming, program) - _progress(purchases, spent_minor, program)
    return upcoming, max(left, 1)


def tier_label(tier: Tier | None, translate: Callable[[str], str]) -> str:
    if tier is None:
        return translate("Member")
    return translate(tier.name or tier.code.title())
