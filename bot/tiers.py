"""Tiers by purchase count: which one a customer holds and what the next one needs."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Tier
from bot.i18n import N_


def current_tier(purchase_count: int, tiers: list[Tier]) -> Tier | None:
    reached = [tier for tier in tiers if purchase_count >= tier.min_purchases]
    return max(reached, key=lambda tier: tier.min_purchases, default=None)


def next_tier(purchase_count: int, tiers: list[Tier]) -> Tier | None:
    ahead = [tier for tier in tiers if purchase_count < tier.min_purchases]
    return min(ahead, key=lambda tier: tier.min_purchases, default=None)


# The default tier names (and "Member", before the first purchase), for the catalogs.
DEFAULT_TIER_NAMES = (N_("Member"), N_("Silver"), N_("Gold"), N_("Platinum"))


def tier_label(tier: Tier | None, translate: Callable[[str], str]) -> str:
    if tier is None:
        return translate("Member")
    return translate(tier.name or tier.code.title())
